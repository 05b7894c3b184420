#pragma once
// The one output rule every command follows (docs/errors.md, "Outputs"),
// checked before any work so that a refused output costs nothing and
// nothing that exists is touched:
// - a file output is not an existing folder, not one of the command's inputs
//   (canonical paths), and not inside an input folder or a HaloRec checkpoint
//   or partition folder; an existing file is replaced only when it is
//   HaloRec's own of the same kind;
// - a folder output is new, empty, or HaloRec's own of the same kind (marked
//   by a `.halorec` file, or by the files such a folder always holds); a
//   user's folder is never replaced or cleared, not even with --force.
// Refusals are UsageErrors (exit 2) naming the option and the path.

#include <functional>
#include <string>
#include <vector>

#include "core/path_lock.h"

namespace halorec {

// A path and the option or config key that gave it, for messages.
struct NamedPath {
  std::string option;
  std::string path;
};

// Whether an existing file at `path` is HaloRec's own output of the kind the
// command writes (e.g. has the format attribute "halorec.dataset").
using OwnFileProbe = std::function<bool(const std::string& path)>;

// Locks an output for this process (core/path_lock.h) before its checks,
// making the folder that holds it when `folder_output` (a run or partition
// folder's parent; the folders it made are appended to `made`, outermost
// last); a file output's folder must exist (InputError naming it). Held
// until the returned lock goes.
[[nodiscard]] PathLock lock_output(const NamedPath& out, bool folder_output,
                                   std::vector<std::string>* made = nullptr);

// Checks a file output. Without `is_own` (text outputs, which carry no
// format mark) an existing file is replaced only with `force`.
void check_output_file(const NamedPath& out, const std::vector<NamedPath>& inputs,
                       const OwnFileProbe& is_own, bool force = false);

// Checks a folder output of `kind` ("partition", "run", "checkpoints"). An
// existing folder of that kind is accepted when `reuse` (a run folder), or
// with `force`; otherwise the message says to give --force. Returns whether
// the folder exists as HaloRec's own of that kind.
bool check_output_folder(const NamedPath& out, const std::string& kind,
                         const std::vector<NamedPath>& inputs, bool force, bool reuse = false);

// The kind of a HaloRec folder: "run", "partition", "checkpoints",
// "checkpoint" (one step-N folder), or "" for any other folder.
std::string folder_kind(const std::string& dir);

// Creates `dir` (and parents), marks it as a HaloRec folder of `kind` and
// proves that it takes new files: UsageError naming `option` when it is a
// file, read-only or not permitted; IoError when the disk is full.
void make_marked_folder(const std::string& dir, const std::string& kind, const std::string& option);

inline constexpr const char* kFolderMarker = ".halorec";

}  // namespace halorec

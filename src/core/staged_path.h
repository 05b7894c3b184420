#pragma once
// Write-then-rename: output is produced under a temporary name beside the
// target and renamed over it only when complete, so readers never see a
// half-written file and an existing file survives a failed run.
//
// The temporary lives in a private folder `.NAME.tmp-XXXXXX` that mkdtemp(3)
// makes beside the target (a new, unpredictable name, mode 0700): nothing
// another process planted (a symlink to the command's input, say) can be
// where the temporary is written. The folder is a TempPath: gone after an
// exception, a failed write or SIGTERM/SIGINT.
//
// StagedPath does not decide whether a target may be replaced: commands check
// their outputs first (core/output_path.h). It only ever replaces a folder by
// a folder that HaloRec marked as its own (core/output_path.h).

#include <string>

#include "core/temp_files.h"

namespace halorec {

class StagedPath {
 public:
  // Checks that the target's folder exists and is writable (InputError naming
  // the path otherwise) and that the target is not '.', '..' or a root; makes
  // the private folder.
  explicit StagedPath(std::string target);
  ~StagedPath() = default;  // the TempPath removes an uncommitted temporary
  StagedPath(const StagedPath&) = delete;
  StagedPath& operator=(const StagedPath&) = delete;

  // Where to write: `<private folder>/NAME` (a file, or a folder the caller
  // makes), nothing there yet.
  const std::string& temp() const { return temp_path_; }
  const std::string& target() const { return target_; }
  // Renames the temporary over the target. A file never replaces a folder; a
  // folder replaces only a HaloRec folder, exchanged with it in one atomic
  // step (renameat2 RENAME_EXCHANGE; where the filesystem lacks it, moved
  // aside first), the old one removed after.
  // HALOREC_TEST_PAUSE_BEFORE_COMMIT=SECONDS (a testing aid) waits first.
  void commit();

 private:
  std::string target_;
  TempPath private_dir_;
  std::string temp_path_;
};

// Makes a new private folder `.PREFIX.tmp-XXXXXX` in `dir` (mkdtemp; mode
// 0700) and returns its path; IoError/InputError naming `what` otherwise.
std::string make_private_folder(const std::string& dir, const std::string& prefix,
                                const std::string& what);

// Whether `name` is one of make_private_folder's (".PREFIX.tmp-XXXXXX").
bool is_private_folder_name(const std::string& name);

// Replaces `to` by `from` atomically where the filesystem can (both exist;
// afterwards `from` holds what `to` held). Returns false, changing nothing,
// where it cannot (then rename aside and back by hand).
bool exchange_paths(const std::string& from, const std::string& to);

// Lower-case hex of `bytes` random bytes (getrandom(2)): names that another
// process cannot predict.
std::string random_hex(int bytes);

// The name a user knows for a path being written: "dir/out.h5" for
// "dir/.out.h5.tmp-Ab12Cd/out.h5"; any other path as it is.
std::string visible_name(const std::string& path);

}  // namespace halorec

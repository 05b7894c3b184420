#include "core/output_path.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/check.h"

namespace fs = std::filesystem;

namespace halorec {

namespace {

fs::path canonical_or_self(const std::string& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(fs::absolute(p, ec), ec);
  return ec ? fs::absolute(p).lexically_normal() : c;
}

bool is_within(const fs::path& inner, const fs::path& outer) {
  auto o = outer.begin(), i = inner.begin();
  for (; o != outer.end(); ++o, ++i) {
    if (i == inner.end() || *o != *i) return false;
  }
  return true;
}

bool has(const fs::path& dir, const char* name) {
  std::error_code ec;
  return fs::exists(dir / name, ec);
}

std::string read_marker(const fs::path& dir) {
  std::ifstream f(dir / kFolderMarker);
  std::string kind;
  std::getline(f, kind);
  return kind;
}

// One entry of a folder, for messages.
std::string some_entry(const fs::path& dir, size_t* count) {
  std::error_code ec;
  std::string first;
  *count = 0;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name == ".halorec.lock") continue;  // a lock inside (core/path_lock.h)
    if ((*count)++ == 0) first = name;
  }
  return first;
}

std::string kind_of(const fs::path& dir, bool look_inside);

// Checks shared by files and folders: not an input, not inside an input
// folder or a checkpoint or partition folder; when the output replaces what
// is there, not holding an input either.
void check_against_inputs(const NamedPath& out, const fs::path& canon,
                          const std::vector<NamedPath>& inputs, bool replaced) {
  for (const NamedPath& in : inputs) {
    if (in.path.empty()) continue;
    const fs::path c = canonical_or_self(in.path);
    if (c == canon) {
      HR_THROW(UsageError, "{} '{}' is also this command's input ({} '{}'); nothing was written",
               out.option, out.path, in.option, in.path);
    }
    std::error_code ec;
    if (fs::is_directory(c, ec) && is_within(canon, c)) {
      HR_THROW(UsageError,
               "{} '{}' is inside the folder this command reads ({} '{}'); "
               "nothing was written",
               out.option, out.path, in.option, in.path);
    }
    if (replaced && is_within(c, canon)) {
      HR_THROW(UsageError, "{} '{}' holds this command's input ({} '{}'); nothing was written",
               out.option, out.path, in.option, in.path);
    }
  }
  for (fs::path p = canon.parent_path(); !p.empty(); p = p.parent_path()) {
    const std::string kind = kind_of(p, false);
    if (kind == "checkpoint" || kind == "partition") {
      HR_THROW(UsageError,
               "{} '{}' is inside the {} folder '{}', which HaloRec manages; "
               "choose a path outside it",
               out.option, out.path, kind, p.string());
    }
    if (p == p.root_path()) break;
  }
}

std::string kind_of(const fs::path& dir, bool look_inside) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return "";
  if (has(dir, kFolderMarker)) return read_marker(dir);
  // Folders written before markers existed, by the files they always hold.
  if (has(dir, "COMMITTED")) return "checkpoint";
  const std::string name = dir.filename().string();
  if (name.rfind("step-", 0) == 0 && (has(dir, "dense.h5") || has(dir, "rank-00000.h5"))) {
    return "checkpoint";
  }
  if (has(dir, "meta.h5") && has(dir, "shard-00000.h5")) return "partition";
  if (has(dir, "config.yaml") && (has(dir, "metrics.jsonl") || has(dir, "steps.csv"))) {
    return "run";
  }
  if (!look_inside) return "";
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("step-", 0) == 0 && kind_of(e.path(), false) == "checkpoint") {
      return "checkpoints";
    }
  }
  return "";
}

}  // namespace

std::string folder_kind(const std::string& dir) {
  return kind_of(dir, true);
}

namespace {

// A name the filesystem takes (NAME_MAX), checked before any work.
void check_name_length(const NamedPath& out) {
  std::string t = out.path;
  while (t.size() > 1 && t.back() == '/') t.pop_back();
  const size_t n = fs::path(t).filename().string().size();
  if (n > 255) {
    HR_THROW(UsageError, "{} '{}': its name is {} bytes, the filesystem takes at most 255; "
             "nothing was written", out.option, out.path, n);
  }
}

}  // namespace

PathLock lock_output(const NamedPath& out, bool folder_output, std::vector<std::string>* made) {
  if (out.path.empty()) HR_THROW(UsageError, "{} is empty", out.option);
  check_name_length(out);
  std::string t = out.path;
  while (t.size() > 1 && t.back() == '/') t.pop_back();
  const fs::path p(t);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    if (!folder_output) {
      HR_THROW(InputError, "{} '{}': folder '{}' does not exist; nothing was written",
               out.option, out.path, dir.string());
    }
    std::vector<fs::path> missing;
    for (fs::path up = dir; !up.empty() && !fs::exists(up, ec); up = up.parent_path()) {
      missing.push_back(up);
      if (up == up.root_path() || !up.has_parent_path()) break;
    }
    fs::create_directories(dir, ec);
    if (ec) {
      HR_THROW(UsageError, "{} '{}': cannot create the folder '{}': {}", out.option, out.path,
               dir.string(), ec.message());
    }
    if (made != nullptr) {
      for (const fs::path& m : missing) made->push_back(m.string());
    }
  }
  return PathLock(out);
}

void check_output_file(const NamedPath& out, const std::vector<NamedPath>& inputs,
                       const OwnFileProbe& is_own, bool force) {
  if (out.path.empty()) HR_THROW(UsageError, "{} is empty", out.option);
  check_name_length(out);
  std::error_code ec;
  if (fs::is_directory(out.path, ec)) {
    HR_THROW(UsageError,
             "{} '{}' is an existing folder; give a file path (nothing was "
             "written, the folder is untouched)",
             out.option, out.path);
  }
  const fs::path canon = canonical_or_self(out.path);
  check_against_inputs(out, canon, inputs, true);
  if (!fs::exists(out.path, ec) && !fs::is_symlink(out.path, ec)) return;
  if (!fs::is_regular_file(out.path, ec)) {
    HR_THROW(UsageError, "{} '{}' exists and is not a regular file; nothing was written",
             out.option, out.path);
  }
  if (is_own) {
    if (!is_own(out.path)) {
      HR_THROW(UsageError,
               "{} '{}' exists and is not a HaloRec file of the kind this command "
               "writes; it is left as it is: remove it yourself or choose another path",
               out.option, out.path);
    }
  } else if (!force) {
    HR_THROW(UsageError, "{} '{}' exists; give --force to replace it, or choose another path",
             out.option, out.path);
  }
}

bool check_output_folder(const NamedPath& out, const std::string& kind,
                         const std::vector<NamedPath>& inputs, bool force, bool reuse) {
  if (out.path.empty()) HR_THROW(UsageError, "{} is empty", out.option);
  check_name_length(out);
  std::error_code ec;
  const fs::path canon = canonical_or_self(out.path);
  check_against_inputs(out, canon, inputs, !reuse);
  if (!fs::exists(out.path, ec)) return false;
  if (!fs::is_directory(out.path, ec)) {
    HR_THROW(UsageError, "{} '{}' exists and is not a folder; nothing was written", out.option,
             out.path);
  }
  size_t count = 0;
  const std::string entry = some_entry(out.path, &count);
  if (count == 0) return false;
  const std::string found = folder_kind(out.path);
  if (found != kind) {
    HR_THROW(UsageError,
             "{} '{}' is a folder with {} entries (e.g. '{}') that is not a HaloRec "
             "{} folder{}; HaloRec never clears it, not even with --force: choose a new or "
             "empty folder",
             out.option, out.path, count, entry, kind,
             found.empty() ? "" : " (it is a " + found + " folder)");
  }
  if (!reuse && !force) {
    HR_THROW(UsageError, "{} '{}' already holds a HaloRec {}; give --force to replace it",
             out.option, out.path, kind);
  }
  return true;
}

namespace {

// A path the user chose but cannot be written is their error (exit 2); a
// full disk or a failing device is not.
[[noreturn]] void throw_write_error(const std::string& option, const std::string& dir, int err,
                                    const std::string& what) {
  const std::string message = fmt::format("{} '{}': {}: {}", option, dir, what, std::strerror(err));
  if (err == ENOSPC || err == EIO || err == EDQUOT) throw IoError(message);
  throw UsageError(message);
}

}  // namespace

void make_marked_folder(const std::string& dir, const std::string& kind,
                        const std::string& option) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw_write_error(option, dir, ec.value(), "cannot create the folder");
  if (!fs::is_directory(dir, ec)) throw_write_error(option, dir, ENOTDIR, "not a folder");
  const std::string marker = (fs::path(dir) / kFolderMarker).string();
  if (read_marker(dir) == kind) {
    // Present already: still prove the folder takes new files.
    if (::access(dir.c_str(), W_OK) != 0) throw_write_error(option, dir, errno, "not writable");
    const std::string probe = marker + ".probe";
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) throw_write_error(option, dir, errno, "cannot create files in it");
    ::close(fd);
    ::unlink(probe.c_str());
    return;
  }
  const int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw_write_error(option, dir, errno, "cannot create files in it");
  const std::string text = kind + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int err = errno;
  ::close(fd);
  if (!ok) throw_write_error(option, dir, err, "cannot write its marker file");
}

}  // namespace halorec

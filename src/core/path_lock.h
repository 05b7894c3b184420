#pragma once
// One writer per output: a PathLock is an advisory lock on a file or folder
// that a command writes, held from before its checks until it ends. The lock
// is a file `.NAME.lock` beside the target (inside the target, as
// `.halorec.lock`, when only the target's own folder is writable) that holds
// the holder's pid, host, command and start time, under flock(2): the kernel
// (and NFS's lock manager) drops the flock when the holder dies, however it
// dies, so a lock whose holder is gone is taken over, with a warning naming
// the holder. A second writer gets a UsageError (exit 2) naming the holder.
//
// Within one process a path may be locked again (train's partition step
// runs the partition job, which locks the same folder): the inner lock is a
// no-op and the outer one releases.

#include <string>

namespace halorec {

struct NamedPath;

class PathLock {
 public:
  PathLock() = default;
  // Locks `target.path` (the parent folder must exist; callers make it).
  explicit PathLock(const NamedPath& target);
  ~PathLock();
  PathLock(PathLock&& o) noexcept;
  PathLock& operator=(PathLock&& o) noexcept;
  PathLock(const PathLock&) = delete;
  PathLock& operator=(const PathLock&) = delete;

  bool held() const { return !lock_file_.empty(); }
  const std::string& lock_file() const { return lock_file_; }
  void release() noexcept;

 private:
  std::string lock_file_;  // canonical; empty when not held
};

// The lock file a target's lock uses (for messages and tests).
std::string lock_file_for(const std::string& target);

// The command line recorded in lock files ("train", "export"): set once by
// main.
void set_lock_command(const std::string& command);

}  // namespace halorec

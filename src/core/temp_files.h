#pragma once
// Temporary outputs never outlive the process that writes them: a TempPath
// removes its file or folder when destroyed (unless released), and after
// install_temp_cleanup() the handlers of SIGTERM, SIGINT and SIGHUP remove
// every live TempPath before the process ends by that signal. The handlers
// use only async-signal-safe calls (unlink, openat, getdents64, unlinkat).

#include <string>

namespace halorec {

class TempPath {
 public:
  explicit TempPath(std::string path);
  ~TempPath();  // removes the path (file or folder) unless released
  TempPath(const TempPath&) = delete;
  TempPath& operator=(const TempPath&) = delete;

  const std::string& path() const { return path_; }
  // The path is no longer temporary (renamed into place, or kept on purpose).
  void release();

 private:
  std::string path_;
  int slot_ = -1;  // in the signal handlers' table; -1 when not registered
};

// Installs the handlers (once; later calls do nothing). A handler another
// part of the program installs afterwards (train's SIGTERM) takes precedence.
void install_temp_cleanup();

}  // namespace halorec

#pragma once
// Write-then-rename: output is produced under a temporary name beside the
// target and renamed over it only when complete, so readers never see a
// half-written file and an existing file survives a failed run.

#include <string>

namespace halorec {

class StagedPath {
 public:
  // Checks that the target's folder exists and is writable (IoError/InputError
  // naming the path otherwise).
  explicit StagedPath(std::string target);
  ~StagedPath();  // removes the temporary if commit() was not reached
  StagedPath(const StagedPath&) = delete;
  StagedPath& operator=(const StagedPath&) = delete;

  const std::string& temp() const { return temp_; }
  const std::string& target() const { return target_; }
  // Renames the temporary (file or folder) over the target.
  void commit();

 private:
  std::string target_;
  std::string temp_;
  bool committed_ = false;
};

}  // namespace halorec

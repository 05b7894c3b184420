#pragma once
// Write-then-rename: output is produced under a temporary name beside the
// target and renamed over it only when complete, so readers never see a
// half-written file and an existing file survives a failed run. The temporary
// is a TempPath: gone after an exception, a failed write or SIGTERM/SIGINT.
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
  // the path otherwise) and that the target is not '.', '..' or a root.
  explicit StagedPath(std::string target);
  ~StagedPath() = default;  // the TempPath removes an uncommitted temporary
  StagedPath(const StagedPath&) = delete;
  StagedPath& operator=(const StagedPath&) = delete;

  const std::string& temp() const { return temp_.path(); }
  const std::string& target() const { return target_; }
  // Renames the temporary over the target. A file never replaces a folder; a
  // folder replaces only a HaloRec folder, which is moved aside first and
  // removed after the rename.
  // HALOREC_TEST_PAUSE_BEFORE_COMMIT=SECONDS (a testing aid) waits first.
  void commit();

 private:
  std::string target_;
  TempPath temp_;
};

}  // namespace halorec

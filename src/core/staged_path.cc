#include "core/staged_path.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <thread>

#include "core/check.h"
#include "core/output_path.h"

namespace fs = std::filesystem;

namespace halorec {

namespace {

std::string checked_target(std::string target) {
  while (target.size() > 1 && target.back() == '/') target.pop_back();
  if (target.empty()) HR_THROW(UsageError, "output path is empty");
  const fs::path name = fs::path(target).lexically_normal().filename();
  if (name.empty() || name == "." || name == "..") {
    HR_THROW(UsageError,
             "cannot write to '{}': give a file or folder name, not a folder "
             "reference",
             target);
  }
  return target;
}

std::string temp_beside(const std::string& target) {
  fs::path p(target);
  fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    HR_THROW(InputError, "cannot write '{}': folder '{}' does not exist", target, dir.string());
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    HR_THROW(InputError, "cannot write '{}': folder '{}' is not writable", target, dir.string());
  }
  const std::string temp =
      (dir / ("." + p.filename().string() + ".tmp." + std::to_string(::getpid()))).string();
  fs::remove_all(temp, ec);
  return temp;
}

}  // namespace

StagedPath::StagedPath(std::string target)
    : target_(checked_target(std::move(target))), temp_(temp_beside(target_)) {}

void StagedPath::commit() {
  if (const char* pause = std::getenv("HALOREC_TEST_PAUSE_BEFORE_COMMIT")) {
    std::fprintf(stderr, "halorec: test pause before committing %s\n", target_.c_str());
    std::fflush(stderr);
    std::this_thread::sleep_for(std::chrono::duration<double>(std::atof(pause)));
  }
  std::error_code ec;
  if (fs::is_directory(target_, ec)) {
    // Defense in depth behind the commands' output checks: never a user's folder.
    HR_CHECK(fs::is_directory(temp(), ec), "a file would replace the folder '{}'", target_);
    HR_CHECK(!folder_kind(target_).empty(), "'{}' is not a HaloRec folder", target_);
    const fs::path t(target_);
    const std::string aside = ((t.has_parent_path() ? t.parent_path() : fs::path(".")) /
                               ("." + t.filename().string() + ".old." + std::to_string(::getpid())))
                                  .string();
    TempPath old(aside);
    fs::remove_all(aside, ec);
    fs::rename(target_, aside, ec);
    if (ec) HR_THROW(IoError, "cannot move '{}' aside: {}", target_, ec.message());
    fs::rename(temp(), target_, ec);
    if (ec) {
      std::error_code back;
      fs::rename(aside, target_, back);
      old.release();
      HR_THROW(IoError, "cannot rename '{}' to '{}': {}", temp(), target_, ec.message());
    }
    temp_.release();
    return;  // `old` removes the replaced folder
  }
  fs::rename(temp(), target_, ec);
  if (ec) HR_THROW(IoError, "cannot rename '{}' to '{}': {}", temp(), target_, ec.message());
  temp_.release();
}

}  // namespace halorec

#include "core/staged_path.h"

#include <unistd.h>

#include <filesystem>
#include <system_error>

#include "core/check.h"

namespace fs = std::filesystem;

namespace halorec {

StagedPath::StagedPath(std::string target) : target_(std::move(target)) {
  while (target_.size() > 1 && target_.back() == '/') target_.pop_back();
  if (target_.empty()) HR_THROW(UsageError, "output path is empty");
  fs::path p(target_);
  fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    HR_THROW(InputError, "cannot write '{}': folder '{}' does not exist", target_, dir.string());
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    HR_THROW(InputError, "cannot write '{}': folder '{}' is not writable", target_,
             dir.string());
  }
  temp_ = (dir / ("." + p.filename().string() + ".tmp." + std::to_string(::getpid()))).string();
  fs::remove_all(temp_, ec);
}

StagedPath::~StagedPath() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(temp_, ec);
  }
}

void StagedPath::commit() {
  std::error_code ec;
  if (fs::is_directory(target_, ec)) {
    fs::remove_all(target_, ec);
    if (ec) HR_THROW(IoError, "cannot replace '{}': {}", target_, ec.message());
  }
  fs::rename(temp_, target_, ec);
  if (ec) HR_THROW(IoError, "cannot rename '{}' to '{}': {}", temp_, target_, ec.message());
  committed_ = true;
}

}  // namespace halorec

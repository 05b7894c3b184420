#include "core/staged_path.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <thread>
#include <vector>

#include "core/check.h"
#include "core/output_path.h"

namespace fs = std::filesystem;

namespace halorec {

namespace {

constexpr const char* kTempMark = ".tmp-";
constexpr size_t kPrefixBytes = 200;  // the private folder's name stays within NAME_MAX

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

fs::path folder_of(const std::string& target) {
  const fs::path p(target);
  return p.has_parent_path() ? p.parent_path() : fs::path(".");
}

std::string private_folder_for(const std::string& target) {
  const fs::path dir = folder_of(target);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    HR_THROW(InputError, "cannot write '{}': folder '{}' does not exist", target, dir.string());
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    HR_THROW(InputError, "cannot write '{}': folder '{}' is not writable", target, dir.string());
  }
  const std::string name = fs::path(target).filename().string();
  return make_private_folder(dir.string(), name.substr(0, kPrefixBytes), target);
}

}  // namespace

std::string random_hex(int bytes) {
  std::vector<unsigned char> buf(static_cast<size_t>(bytes));
  size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::getrandom(buf.data() + got, buf.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      HR_THROW(IoError, "getrandom failed: {}", std::strerror(errno));
    }
    got += static_cast<size_t>(n);
  }
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : buf) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string make_private_folder(const std::string& dir, const std::string& prefix,
                                const std::string& what) {
  std::string templ = (fs::path(dir) / ("." + prefix + kTempMark + "XXXXXX")).string();
  if (::mkdtemp(templ.data()) == nullptr) {
    const int err = errno;
    const std::string message =
        fmt::format("cannot write '{}': cannot make a private folder in '{}': {}", what, dir,
                    std::strerror(err));
    if (err == ENOSPC || err == EIO || err == EDQUOT) throw IoError(message);
    throw InputError(message);
  }
  return templ;
}

bool is_private_folder_name(const std::string& name) {
  const size_t mark = name.rfind(kTempMark);
  if (name.size() < 2 || name[0] != '.' || mark == std::string::npos || mark < 2 ||
      name.size() != mark + std::strlen(kTempMark) + 6) {
    return false;
  }
  for (size_t k = mark + std::strlen(kTempMark); k < name.size(); ++k) {
    if (!std::isalnum(static_cast<unsigned char>(name[k]))) return false;
  }
  return true;
}

bool exchange_paths(const std::string& from, const std::string& to) {
  return ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) == 0;
}

std::string visible_name(const std::string& path) {
  const fs::path p(path);
  const fs::path dir = p.parent_path();
  const std::string folder = dir.filename().string();
  const std::string name = p.filename().string();
  const size_t mark = folder.rfind(kTempMark);
  if (folder.size() < 2 || folder[0] != '.' || mark == std::string::npos ||
      folder.size() != mark + std::strlen(kTempMark) + 6) {
    return path;
  }
  const std::string prefix = folder.substr(1, mark - 1);
  if (prefix.empty() || name.compare(0, prefix.size(), prefix) != 0) return path;
  return (dir.parent_path() / name).string();
}

StagedPath::StagedPath(std::string target)
    : target_(checked_target(std::move(target))), private_dir_(private_folder_for(target_)) {
  temp_path_ = (fs::path(private_dir_.path()) / fs::path(target_).filename()).string();
}

void StagedPath::commit() {
  if (const char* pause = std::getenv("HALOREC_TEST_PAUSE_BEFORE_COMMIT")) {
    std::fprintf(stderr, "halorec: test pause before committing %s\n", target_.c_str());
    std::fflush(stderr);
    std::this_thread::sleep_for(std::chrono::duration<double>(std::atof(pause)));
  }
  std::error_code ec;
  const std::string dir = private_dir_.path();
  if (fs::is_directory(fs::symlink_status(target_, ec))) {
    // Defense in depth behind the commands' output checks: never a user's folder.
    HR_CHECK(fs::is_directory(fs::symlink_status(temp_path_, ec)),
             "a file would replace the folder '{}'", target_);
    HR_CHECK(!folder_kind(target_).empty(), "'{}' is not a HaloRec folder", target_);
    if (!exchange_paths(temp_path_, target_)) {
      // No RENAME_EXCHANGE here (some network filesystems): the old folder
      // moves into the private folder, the new one takes its place.
      const std::string aside = (fs::path(dir) / ".replaced").string();
      fs::rename(target_, aside, ec);
      if (ec) HR_THROW(IoError, "cannot move '{}' aside: {}", target_, ec.message());
      fs::rename(temp_path_, target_, ec);
      if (ec) {
        std::error_code back;
        fs::rename(aside, target_, back);
        HR_THROW(IoError, "cannot rename '{}' to '{}': {}", temp_path_, target_, ec.message());
      }
    }
  } else {
    fs::rename(temp_path_, target_, ec);
    if (ec) HR_THROW(IoError, "cannot rename '{}' to '{}': {}", temp_path_, target_, ec.message());
  }
  // The private folder now holds nothing, or the replaced folder.
  fs::remove_all(dir, ec);
  private_dir_.release();
}

}  // namespace halorec

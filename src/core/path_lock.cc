#include "core/path_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "core/check.h"
#include "core/log.h"
#include "core/output_path.h"
#include "core/quote.h"
#include "core/temp_files.h"

namespace fs = std::filesystem;

namespace halorec {

namespace {

// The locks this process holds: lock file -> its descriptor, how many
// PathLocks share it, and its registration for removal on a fatal signal.
struct Held {
  int fd = -1;
  int depth = 0;
  std::unique_ptr<TempPath> remove_on_signal;
};
std::mutex g_mutex;
std::map<std::string, Held>& held_here() {
  static std::map<std::string, Held> m;
  return m;
}
std::string& lock_command() {
  static std::string c = "halorec";
  return c;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return quote(s, 300);
}

std::string read_holder(int fd) {
  char buf[512] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  return n > 0 ? trimmed(std::string(buf, static_cast<size_t>(n))) : std::string();
}

std::string holder_line() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  char when[32] = {};
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return fmt::format("pid {} on host {}, halorec {}, since {}\n", ::getpid(), host,
                     lock_command(), when);
}

std::string key_of(const std::string& lock_file) {
  std::error_code ec;
  const fs::path c = fs::weakly_canonical(fs::absolute(lock_file, ec), ec);
  return ec ? lock_file : c.string();
}

// Beside the target when its folder takes files; inside an existing folder
// target otherwise (a run folder in a read-only parent).
std::string choose_lock_file(const std::string& target) {
  const std::string beside = lock_file_for(target);
  const fs::path parent = fs::path(beside).parent_path();
  std::error_code ec;
  if (::access(parent.c_str(), W_OK) == 0) return beside;
  if (fs::is_directory(target, ec) && ::access(target.c_str(), W_OK) == 0) {
    return (fs::path(target) / ".halorec.lock").string();
  }
  return beside;  // fails below with the reason
}

}  // namespace

void set_lock_command(const std::string& command) { lock_command() = command; }

std::string lock_file_for(const std::string& target) {
  std::string t = target;
  while (t.size() > 1 && t.back() == '/') t.pop_back();
  const fs::path p(t);
  std::string name = p.filename().string();
  if (name.size() > 200) {
    // Names near NAME_MAX: a prefix and a hash of the whole name.
    name = fmt::format("{}-{:016x}", name.substr(0, 180), std::hash<std::string>{}(name));
  }
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  return (dir / ("." + name + ".lock")).string();
}

PathLock::PathLock(const NamedPath& target) {
  const std::string file = choose_lock_file(target.path);
  const std::string key = key_of(file);
  std::lock_guard<std::mutex> guard(g_mutex);
  if (auto it = held_here().find(key); it != held_here().end()) {
    ++it->second.depth;  // nested: the last one to release unlocks
    lock_file_ = key;
    return;
  }
  for (int attempt = 0; attempt < 20; ++attempt) {
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
      const int err = errno;
      if (err == ELOOP) {
        HR_THROW(UsageError, "{} '{}': its lock file '{}' is a symbolic link; HaloRec does not "
                 "follow it: remove it", target.option, target.path, file);
      }
      HR_THROW(UsageError, "{} '{}': cannot create the lock file '{}': {}", target.option,
               target.path, file, std::strerror(err));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      if (err == EWOULDBLOCK) {
        const std::string holder = read_holder(fd);
        ::close(fd);
        HR_THROW(UsageError, "{} '{}' is being written by another HaloRec process ({}); wait "
                 "for it to end or stop it (lock file '{}'); nothing was written",
                 target.option, target.path, holder.empty() ? "starting" : holder, file);
      }
      // A filesystem without locks (NFS without its lock manager): go on unprotected.
      log::warn("{} '{}': cannot lock '{}' ({}): a second writer would not be stopped",
                target.option, target.path, file, std::strerror(err));
    }
    // The file may have been released (unlinked) between our open and flock.
    struct stat held {}, now {};
    if (::fstat(fd, &held) != 0 || ::lstat(file.c_str(), &now) != 0 ||
        held.st_ino != now.st_ino || held.st_dev != now.st_dev) {
      ::close(fd);
      continue;
    }
    const std::string previous = read_holder(fd);
    if (!previous.empty()) {
      log::warn("{} '{}': took over the lock of a process that is gone ({})", target.option,
                target.path, previous);
    }
    const std::string line = holder_line();
    if (::ftruncate(fd, 0) != 0 ||
        ::pwrite(fd, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size())) {
      const int err = errno;
      ::unlink(file.c_str());
      ::close(fd);
      HR_THROW(IoError, "{} '{}': cannot write the lock file '{}': {}", target.option,
               target.path, file, std::strerror(err));
    }
    Held& h = held_here()[key];
    h.fd = fd;
    h.depth = 1;
    h.remove_on_signal = std::make_unique<TempPath>(file);
    lock_file_ = key;
    return;
  }
  HR_THROW(IoError, "{} '{}': the lock file '{}' keeps changing; is another process removing it?",
           target.option, target.path, file);
}

PathLock::~PathLock() { release(); }

PathLock::PathLock(PathLock&& o) noexcept : lock_file_(std::move(o.lock_file_)) {
  o.lock_file_.clear();
}

PathLock& PathLock::operator=(PathLock&& o) noexcept {
  if (this != &o) {
    release();
    lock_file_ = std::move(o.lock_file_);
    o.lock_file_.clear();
  }
  return *this;
}

void PathLock::release() noexcept {
  if (lock_file_.empty()) return;
  std::lock_guard<std::mutex> guard(g_mutex);
  auto it = held_here().find(lock_file_);
  lock_file_.clear();
  if (it == held_here().end() || --it->second.depth > 0) return;
  // Removed while still locked: a waiter that opened this file sees another
  // inode after its flock and opens again.
  it->second.remove_on_signal.reset();
  if (it->second.fd >= 0) ::close(it->second.fd);
  held_here().erase(it);
}

}  // namespace halorec

#include "core/temp_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace halorec {

namespace {

constexpr int kSlots = 64;
constexpr size_t kPathBytes = 4096;

// Slots the signal handler reads: a path is copied in before `live` is set.
struct Slot {
  std::atomic<bool> taken{false};
  std::atomic<bool> live{false};
  char path[kPathBytes];
};
Slot g_slots[kSlots];

struct LinuxDirent64 {
  ino64_t d_ino;
  off64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

// Removes the entries of the folder `dir_fd` and below (depth-limited), with
// async-signal-safe calls only.
void remove_children(int dir_fd, int depth) {
  alignas(8) char buf[4096];
  // Passes over the folder until one removes nothing (removing entries while
  // reading may make a pass miss some).
  for (int pass = 0; pass < 64; ++pass) {
    int removed = 0;
    lseek(dir_fd, 0, SEEK_SET);
    for (;;) {
      const long n = syscall(SYS_getdents64, dir_fd, buf, sizeof buf);
      if (n <= 0) break;
      for (long off = 0; off < n;) {
        const auto* e = reinterpret_cast<const LinuxDirent64*>(buf + off);
        off += e->d_reclen;
        const char* name = e->d_name;
        if (std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0) continue;
        if (unlinkat(dir_fd, name, 0) == 0) {
          ++removed;
          continue;
        }
        if (depth > 0) {
          const int sub = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
          if (sub >= 0) {
            remove_children(sub, depth - 1);
            close(sub);
          }
        }
        if (unlinkat(dir_fd, name, AT_REMOVEDIR) == 0) ++removed;
      }
    }
    if (removed == 0) return;
  }
}

void remove_path_signal_safe(const char* path) {
  if (unlink(path) == 0 || errno == ENOENT) return;
  const int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (fd < 0) return;
  remove_children(fd, 8);
  close(fd);
  rmdir(path);
}

void on_fatal_signal(int sig) {
  const int saved = errno;
  for (Slot& s : g_slots) {
    if (s.live.load()) remove_path_signal_safe(s.path);
  }
  errno = saved;
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

TempPath::TempPath(std::string path) : path_(std::move(path)) {
  if (path_.size() >= kPathBytes) return;  // not cleaned on signals; the destructor still does
  for (int k = 0; k < kSlots; ++k) {
    bool expected = false;
    if (g_slots[k].taken.compare_exchange_strong(expected, true)) {
      std::memcpy(g_slots[k].path, path_.c_str(), path_.size() + 1);
      g_slots[k].live.store(true);
      slot_ = k;
      return;
    }
  }
}

TempPath::~TempPath() {
  if (slot_ < 0 && path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  release();
}

void TempPath::release() {
  if (slot_ >= 0) {
    g_slots[slot_].live.store(false);
    g_slots[slot_].taken.store(false);
    slot_ = -1;
  }
  path_.clear();
}

void install_temp_cleanup() {
  static const bool installed = [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);
    return true;
  }();
  (void)installed;
}

}  // namespace halorec

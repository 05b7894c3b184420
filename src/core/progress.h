#pragma once
// A long loop's progress as log lines on stderr: "synth: 3.2M of 10M
// interactions (32 %), 5 s, ETA 11 s", at most one every `every_s` seconds
// and none for a loop that ends within the first interval.

#include <chrono>
#include <cstdint>
#include <string>

#include "core/log.h"

namespace halorec {

class Progress {
 public:
  Progress(std::string what, std::string unit, int64_t total, double every_s = 5.0)
      : what_(std::move(what)), unit_(std::move(unit)), total_(total), every_s_(every_s),
        start_(std::chrono::steady_clock::now()), next_s_(every_s) {}

  // Call often (it checks the clock every 65536 calls).
  void tick(int64_t done) {
    if ((done & 0xffff) != 0) return;
    at(done);
  }

  // Checks the clock on every call: for loops whose steps are coarse (a
  // megabyte read, a block of users).
  void at(int64_t done) {
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (s < next_s_ || done <= 0) return;
    next_s_ = s + every_s_;
    const double left = s * static_cast<double>(total_ - done) / static_cast<double>(done);
    log::info("{}: {} of {} {} ({:.0f} %), {:.0f} s, ETA {:.0f} s", what_, count(done),
              count(total_), unit_, 100.0 * static_cast<double>(done) / static_cast<double>(total_),
              s, left);
  }

 private:
  static std::string count(int64_t n) {
    if (n >= 1000000) return fmt::format("{:.1f}M", static_cast<double>(n) / 1e6);
    if (n >= 1000) return fmt::format("{:.1f}k", static_cast<double>(n) / 1e3);
    return std::to_string(n);
  }
  std::string what_, unit_;
  int64_t total_;
  double every_s_;
  std::chrono::steady_clock::time_point start_;
  double next_s_;
};

// A command's steps, each logged with its seconds when it took `min_s` or
// more: "export: forward pass, 12.4 s". Quick runs stay quiet.
class Phases {
 public:
  explicit Phases(std::string what, double min_s = 2.0)
      : what_(std::move(what)), min_s_(min_s), last_(std::chrono::steady_clock::now()) {}

  void done(const char* step) {
    const auto now = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    if (s >= min_s_) log::info("{}: {}, {:.1f} s", what_, step, s);
  }

 private:
  std::string what_;
  double min_s_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace halorec

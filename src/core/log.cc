#include "core/log.h"

#include <chrono>
#include <cstdio>
#include <mutex>

namespace halorec::log {
namespace {

Level g_level = Level::kInfo;
std::string g_prefix;
std::mutex g_mutex;
const auto g_start = std::chrono::steady_clock::now();

char letter(Level level) {
  switch (level) {
    case Level::kDebug: return 'D';
    case Level::kInfo: return 'I';
    case Level::kWarn: return 'W';
    case Level::kError: return 'E';
    default: return '?';
  }
}

}  // namespace

void set_level(Level level) { g_level = level; }
Level level() { return g_level; }
void set_prefix(std::string prefix) { g_prefix = std::move(prefix); }

void write(Level level, const std::string& message) {
  const double t =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_prefix.empty()) {
    fmt::print(stderr, "[halorec {} {:.3f}s] {}\n", letter(level), t, message);
  } else {
    fmt::print(stderr, "[halorec {} {} {:.3f}s] {}\n", letter(level), g_prefix, t, message);
  }
  std::fflush(stderr);
}

}  // namespace halorec::log

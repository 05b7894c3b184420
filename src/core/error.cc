#include "core/error.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace halorec {

namespace {
std::atomic<bool> g_unclean{false};
}  // namespace

void mark_unclean_exit() noexcept {
  g_unclean.store(true);
}
bool unclean_exit() noexcept {
  return g_unclean.load();
}

void exit_now(int code) noexcept {
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}

int exit_code_for(const std::exception& e) noexcept {
  if (dynamic_cast<const InputError*>(&e) || dynamic_cast<const ConfigError*>(&e) ||
      dynamic_cast<const UsageError*>(&e) || dynamic_cast<const CheckpointError*>(&e)) {
    return exit_code::kUserError;
  }
  return exit_code::kFailure;
}

}  // namespace halorec

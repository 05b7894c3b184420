#include "core/error.h"

namespace halorec {

int exit_code_for(const std::exception& e) noexcept {
  if (dynamic_cast<const InputError*>(&e) || dynamic_cast<const ConfigError*>(&e) ||
      dynamic_cast<const UsageError*>(&e) || dynamic_cast<const CheckpointError*>(&e)) {
    return 2;
  }
  return 1;
}

}  // namespace halorec

#include "core/env.h"

#include <cerrno>
#include <cstdlib>

namespace halorec {

int64_t positive_env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return 0;
  char* end = nullptr;
  errno = 0;
  const long long n = std::strtoll(v, &end, 10);
  return (*end == '\0' && errno == 0 && n > 0) ? static_cast<int64_t>(n) : 0;
}

}  // namespace halorec

#pragma once
// Whole numbers read from environment variables: launchers' rank counts and
// the testing aids (docs/formats.md).

#include <cstdint>

namespace halorec {

// The value of `name` when it is a whole positive decimal integer; 0 when it
// is unset, empty, not a number, has trailing characters, is zero, negative
// or out of range.
int64_t positive_env(const char* name);

}  // namespace halorec

#pragma once
// Check macros: throw a typed error carrying the call site and a fmt message.
// For invariants use HR_CHECK (InternalError); for what users control, throw
// the matching type with HR_THROW.

#include <fmt/format.h>

#include "core/error.h"

#define HR_THROW(ErrorType, ...) \
  throw ErrorType(fmt::format(__VA_ARGS__))

#define HR_CHECK(cond, ...)                                                                  \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      throw ::halorec::InternalError(fmt::format("[{}:{}] check failed: {}: {}", __FILE__, \
                                                 __LINE__, #cond, fmt::format(__VA_ARGS__))); \
    }                                                                                        \
  } while (0)

#define HR_CHECK_EQ(a, b)                                                                   \
  do {                                                                                      \
    const auto& hr_a_ = (a);                                                                \
    const auto& hr_b_ = (b);                                                                \
    if (!(hr_a_ == hr_b_)) {                                                                \
      throw ::halorec::InternalError(fmt::format("[{}:{}] check failed: {} == {} ({} vs {})", \
                                                 __FILE__, __LINE__, #a, #b, hr_a_, hr_b_)); \
    }                                                                                       \
  } while (0)

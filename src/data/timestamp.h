#pragma once
// Parses a time field into seconds since the Unix epoch: an integer or
// decimal number of seconds (fractions truncated), or ISO 8601
// "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS" (or a space for T), optional
// fractional seconds and "Z" or "+HH:MM" offsets.

#include <cstdint>
#include <string_view>

namespace halorec::data {

bool parse_timestamp(std::string_view s, int64_t* seconds);

}  // namespace halorec::data

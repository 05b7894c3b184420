#pragma once
// User-supplied text in messages and in tab-separated output.

#include <cstddef>
#include <string>
#include <string_view>

namespace halorec {

// `s` fit for an error message or log line: control bytes (ESC, NUL, ...) as
// \xNN, tab/newline/CR as \t \n \r, and at most `max_bytes` of it, followed
// by "... (N bytes)" when longer. Never writes raw control bytes to a terminal.
std::string quote(std::string_view s, size_t max_bytes = 200);

// A field of tab-separated output: backslash, tab, newline and CR escaped as
// \\ \t \n \r, so each record stays one line of the same fields.
std::string tsv_field(std::string_view s);

}  // namespace halorec

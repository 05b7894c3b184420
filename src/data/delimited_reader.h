#pragma once
// Delimited interaction logs (CSV, TSV): one record per line, columns chosen
// by header name or 0-based index. Fields may be double-quoted ("a,b", "say
// ""hi""") within one line.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/read_context.h"

namespace halorec::data {

struct DelimitedFormat {
  char sep = ',';
  bool header = false;
  std::string user_col = "0";
  std::string item_col = "1";
  std::optional<std::string> rating_col;
  std::optional<std::string> time_col;
  std::optional<std::string> behavior_col;
  // The interaction's weight (a count, a rating, a dwell time): a number,
  // weighed by ReadContext::weigh (ReaderConfig::weight_log1p).
  std::optional<std::string> weight_col;
};

// Parses a --sep value: one character, or "tab", "\t", "comma", "space",
// "semicolon", "pipe".
char parse_separator(const std::string& value);

// Splits one line into fields. Returns false (with *error set) on an
// unterminated quote. Quoted fields are unescaped into *storage.
bool split_fields(std::string_view line, char sep, std::vector<std::string_view>* fields,
                  std::vector<std::string>* storage, std::string* error);

void read_delimited(const std::string& path, const DelimitedFormat& format, ReadContext* ctx);

}  // namespace halorec::data

#include "data/lightgcn_reader.h"

#include <vector>

#include <fmt/format.h>

#include "core/quote.h"
#include "data/line_reader.h"

namespace halorec::data {

namespace {
bool is_space(char c) { return c == ' ' || c == '\t'; }
}  // namespace

void read_lightgcn(const std::string& path, ReadContext* ctx) {
  LineReader reader(path);
  ReadStats& stats = ctx->stats();
  std::string_view line;
  std::vector<std::string_view> tokens;
  while (reader.next(&line)) {
    ++stats.lines;
    tokens.clear();
    size_t k = 0;
    while (k < line.size()) {
      while (k < line.size() && is_space(line[k])) ++k;
      const size_t start = k;
      while (k < line.size() && !is_space(line[k])) ++k;
      if (k > start) tokens.push_back(line.substr(start, k - start));
    }
    if (tokens.empty()) {
      ++stats.blank_lines;
      continue;
    }
    int64_t value = 0;
    bool ok = true;
    for (size_t t = 0; t < tokens.size() && ok; ++t) {
      if (!parse_int64(tokens[t], &value) || value < 0) {
        ++stats.records;
        ctx->malformed(path, reader.line_number(),
                       fmt::format("expected non-negative integer ids 'user item item ...', "
                                   "found '{}' (field {})",
                                   quote(tokens[t]), t + 1));
        ok = false;
      }
    }
    if (!ok) continue;
    for (size_t t = 1; t < tokens.size(); ++t) {
      ++stats.records;
      int64_t user = 0, item = 0;
      if (!ctx->resolve(path, reader.line_number(), tokens[0], tokens[t], &user, &item)) continue;
      ctx->add(user, item, 1.0f, 0);
    }
  }
}

}  // namespace halorec::data

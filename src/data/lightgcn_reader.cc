#include "data/lightgcn_reader.h"

#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "core/check.h"
#include "core/quote.h"
#include "data/line_reader.h"

namespace halorec::data {

namespace {
bool is_space(char c) { return c == ' ' || c == '\t'; }

// A LightGCN file lists each user's items on one line. A file whose every
// line has exactly three fields, with users repeating across lines, is
// 'user item value' records (counts, ratings) read in the wrong format: its
// values would become items.
class TripleDetector {
 public:
  void line(std::string_view user, size_t fields, int64_t line_number) {
    if (!all_three_) return;
    if (fields != 3) {
      all_three_ = false;
      std::unordered_map<std::string, int64_t>().swap(first_line_);
      return;
    }
    ++lines_;
    const auto [it, fresh] = first_line_.emplace(std::string(user), line_number);
    if (!fresh && repeat_line_ == 0) {
      repeat_user_ = it->first;
      repeat_first_ = it->second;
      repeat_line_ = line_number;
    }
  }
  bool all_three() const { return all_three_ && lines_ > 0; }
  // The message's hint (empty unless the file so far looks like records).
  std::string hint() const {
    if (!all_three()) return "";
    return "; every line so far has exactly 3 fields: if they are 'user item value' records "
           "(a count or rating), read the file with --format tsv (or csv) and --weight-col 2";
  }
  // Throws when the whole file looked like records.
  void finish(const std::string& path) const {
    if (!all_three() || repeat_line_ == 0) return;
    HR_THROW(InputError,
             "{}: every one of its {} lines has exactly 3 fields and users repeat across lines "
             "(user '{}' on lines {} and {}): these are 'user item value' records, not LightGCN "
             "lines 'user item item ...' (their third field would be read as an item). Read it "
             "with --format tsv (or csv, or --sep space) and --weight-col 2 to keep the value "
             "as the interaction's weight (docs/formats.md)",
             path, lines_, quote(repeat_user_), repeat_first_, repeat_line_);
  }

 private:
  bool all_three_ = true;
  int64_t lines_ = 0;
  std::unordered_map<std::string, int64_t> first_line_;
  std::string repeat_user_;
  int64_t repeat_first_ = 0, repeat_line_ = 0;
};
}  // namespace

void read_lightgcn(const std::string& path, ReadContext* ctx) {
  LineReader reader(path);
  ReadStats& stats = ctx->stats();
  std::string_view line;
  std::vector<std::string_view> tokens;
  TripleDetector triples;
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
    triples.line(tokens[0], tokens.size(), reader.line_number());
    int64_t value = 0;
    bool ok = true;
    for (size_t t = 0; t < tokens.size() && ok; ++t) {
      if (!parse_int64(tokens[t], &value) || value < 0) {
        ++stats.records;
        ctx->malformed(path, reader.line_number(),
                       fmt::format("expected non-negative integer ids 'user item item ...', "
                                   "found '{}' (field {}){}",
                                   quote(tokens[t]), t + 1, triples.hint()));
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
  triples.finish(path);
}

}  // namespace halorec::data

#pragma once
// What the readers share: the cleaning rules applied while reading (rating
// threshold, behavior weights), the id tables, where records go, and the
// counts of what was read and dropped.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "data/id_table.h"
#include "data/interactions.h"

namespace halorec::data {

// Test records (of a given test file) whose user or item does not occur in
// the train data: stop (InputError), drop and count them
// (unknown_id_in_test), or keep them: their ids are added, without train
// interactions, and they stay in the test set as misses every user's recall
// denominator and NDCG ideal count.
enum class UnseenTest { kError, kDrop, kKeep };

struct ReaderConfig {
  bool skip_bad_lines = false;
  UnseenTest unseen_test = UnseenTest::kError;  // kError + skip_bad_lines: drop
  std::optional<double> min_rating;         // keep ratings >= this
  std::map<std::string, float> behavior_weights;  // empty: every record weighs 1
  // --skip-bad-lines: the largest share of a file's records that may be
  // malformed and skipped; past it (and past 10 such records, or half the
  // file) the file is refused: a wrong format skips most lines, and its
  // dataset would be silently corrupt.
  double max_skipped = 0.01;
  // A weight column's value v (--weight-col) weighs log(1 + v) instead of v.
  bool weight_log1p = false;
};

struct ReadStats {
  int64_t lines = 0;
  int64_t blank_lines = 0;
  int64_t records = 0;  // records seen, including dropped ones
  DropCounts dropped;
  int64_t unseen_test_kept = 0;  // test records kept with an id train lacks
};

// Whether ids may be added (train) or must already exist (a given test file).
enum class IdMode { kAdd, kMustExist };

class ReadContext {
 public:
  ReadContext(const ReaderConfig& config, IdTable* users, IdTable* items, IdMode mode,
              Interactions* out);

  // A record that cannot be parsed: throws InputError "file:line: what", or
  // counts it as malformed under --skip-bad-lines.
  void malformed(const std::string& path, int64_t line, const std::string& what);
  // After a file is read: InputError when --skip-bad-lines skipped more than
  // max_skipped of its records, with the count and the first such line.
  void check_skipped(const std::string& path) const;
  // Resolves a user/item id; returns false (after counting or throwing) when
  // the id is unknown in kMustExist mode.
  bool resolve(const std::string& path, int64_t line, std::string_view user_key,
               std::string_view item_key, int64_t* user, int64_t* item);
  // Applies the rating threshold, the behavior weight and the weight
  // column's value (a value <= 0 drops the record as nonpositive_weight);
  // returns the weight (value, or log1p(value), times the behavior weight),
  // or nullopt when the record is dropped (and counted).
  std::optional<float> weigh(const std::string& path, int64_t line,
                             std::optional<double> rating,
                             std::optional<std::string_view> behavior,
                             std::optional<double> value = std::nullopt);
  void add(int64_t user, int64_t item, float weight, int64_t time) {
    out_->push(user, item, weight, time);
  }

  const ReaderConfig& config() const { return config_; }
  ReadStats& stats() { return stats_; }

 private:
  const ReaderConfig& config_;
  IdTable* users_;
  IdTable* items_;
  IdMode mode_;
  Interactions* out_;
  ReadStats stats_;
  int64_t warned_ = 0;
  std::string first_malformed_;  // "line N: what"
};

}  // namespace halorec::data

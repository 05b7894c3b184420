#pragma once
// `halorec prepare`: interaction logs -> dataset.h5. Reading, cleaning (dedupe,
// rating threshold, behavior weights, k-core), id mapping and splitting, with
// every dropped record counted by reason.

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "data/dataset.h"
#include "data/delimited_reader.h"
#include "data/id_table.h"
#include "data/item_names.h"
#include "data/read_context.h"
#include "data/split.h"

namespace halorec::data {

struct PrepareOptions {
  enum class Format { kLightgcn, kCsv, kTsv };
  Format format = Format::kLightgcn;
  std::string train_path;
  std::string test_path;  // empty: split with `split`
  DelimitedFormat delimited;
  ReaderConfig reader;
  int64_t kcore = 0;
  SplitSpec split;
  uint64_t seed = 2020;
  std::string out;
  // --item-names: a file of (item id, name) lines, kept for the dataset's
  // items and its cold items.
  std::string item_names_path;
  ItemNamesFormat item_names;
  // --cold-items: the share of items (among those with train records) held
  // out of train entirely, chosen by `seed`; their records become cold test.
  double cold_items = 0;
};

struct PrepareReport {
  std::string out;
  std::string fingerprint;
  std::string split;
  int64_t users = 0;
  int64_t items = 0;
  int64_t train = 0;
  int64_t test = 0;
  int64_t lines_read = 0;
  int64_t blank_lines = 0;
  int64_t records_read = 0;
  int64_t records_kept = 0;
  DropCounts dropped;
  int64_t users_without_train = 0;
  int64_t users_without_test = 0;
  int64_t items_without_train = 0;
  // --unseen-test (error, drop, keep), and the test records kept whose user
  // or item has no train records (misses every model counts).
  std::string unseen_test = "error";
  int64_t test_without_train = 0;
  double seconds = 0;
  int64_t peak_rss_bytes = 0;
  // --append-to: the parent and what the new log added.
  std::string parent;
  std::string parent_fingerprint;
  int64_t new_users = 0;
  int64_t new_items = 0;
  // --item-names: the file's named ids, and how many of the dataset's items
  // (and cold items) have a name.
  std::string item_names;
  int64_t names_read = 0;
  int64_t items_named = 0;
  // --cold-items: the share asked, the items held out and their records kept
  // as cold test (a cold record of a user the dataset lacks is dropped as
  // id_not_in_train; repeated pairs merge as duplicate).
  double cold_share = 0;
  int64_t cold_items = 0;
  int64_t cold_test = 0;

  nlohmann::json to_json() const;
  std::string to_text() const;
};

// Read interactions before cleaning: provisional ids from the tables.
struct RawInteractions {
  IdTable users;
  IdTable items;
  Interactions train;
  std::optional<Interactions> test;  // a given test file
  ReadStats stats;
};

// Cleans, maps ids to their canonical dense order and splits. Fills the
// report's counts (not its output fields).
// `keep_unseen`: test records whose ids have no train records stay (their
// ids get dense ids without train interactions).
Dataset build_dataset(RawInteractions raw, int64_t kcore, const SplitSpec& split, uint64_t seed,
                      PrepareReport* report, bool keep_unseen = false);

// The whole subcommand: validates options (UsageError), reads, builds, writes.
PrepareReport run_prepare(const PrepareOptions& options);

// Parses "view=1,cart=2,buy=4" (UsageError naming --behavior-weights).
std::map<std::string, float> parse_behavior_weights(const std::string& value);

}  // namespace halorec::data

#include "data/prepare.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/counter_rng.h"
#include "core/output_path.h"
#include "core/quote.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/resources.h"
#include "data/cleaning.h"
#include "data/lightgcn_reader.h"

namespace halorec::data {

nlohmann::json PrepareReport::to_json() const {
  nlohmann::json dropped_json = nlohmann::json::object();
  for (size_t r = 0; r < static_cast<size_t>(DropReason::kCount); ++r) {
    dropped_json[drop_reason_name(static_cast<DropReason>(r))] = dropped.n[r];
  }
  nlohmann::json j = {{"out", out},
          {"fingerprint", fingerprint},
          {"split", split},
          {"users", users},
          {"items", items},
          {"train", train},
          {"test", test},
          {"lines_read", lines_read},
          {"blank_lines", blank_lines},
          {"records_read", records_read},
          {"records_kept", records_kept},
          {"dropped", dropped_json},
          {"dropped_total", dropped.total()},
          {"users_without_train", users_without_train},
          {"users_without_test", users_without_test},
          {"items_without_train", items_without_train},
          {"unseen_test", unseen_test},
          {"test_without_train", test_without_train},
          {"seconds", seconds},
          {"peak_rss_bytes", peak_rss_bytes}};
  if (!item_names.empty()) {
    j["item_names"] = item_names;
    j["names_read"] = names_read;
    j["items_named"] = items_named;
  }
  if (cold_share > 0) {
    j["cold_share"] = cold_share;
    j["cold_items"] = cold_items;
    j["cold_test"] = cold_test;
  }
  if (!parent.empty()) {
    j["parent"] = parent;
    j["parent_fingerprint"] = parent_fingerprint;
    j["new_users"] = new_users;
    j["new_items"] = new_items;
  }
  return j;
}

std::string PrepareReport::to_text() const {
  std::string s = fmt::format(
      "wrote {}\n"
      "  users {}  items {}  train {}  test {}  (split {})\n"
      "  lines read {}  records read {}  kept {}  dropped {}\n",
      out, users, items, train, test, split, lines_read, records_read, records_kept,
      dropped.total());
  for (size_t r = 0; r < static_cast<size_t>(DropReason::kCount); ++r) {
    if (dropped.n[r] > 0) {
      s += fmt::format("    dropped {:<20} {}\n", drop_reason_name(static_cast<DropReason>(r)),
                       dropped.n[r]);
    }
  }
  if (!parent.empty()) {
    s += fmt::format("  appended to {} ({}...): {} new users, {} new items\n", parent,
                     parent_fingerprint.substr(0, 12), new_users, new_items);
  }
  if (cold_share > 0) {
    s += fmt::format("  cold items {} ({:.0f} % of items with train records) with {} test records, "
                     "held out of train\n",
                     cold_items, 100 * cold_share, cold_test);
  }
  if (!item_names.empty()) {
    s += fmt::format("  names: {} of {} items named ({} names in {})\n", items_named,
                     items + cold_items, names_read, item_names);
  }
  if (users_without_train > 0) s += fmt::format("  users without train: {}\n", users_without_train);
  if (users_without_test > 0) s += fmt::format("  users without test: {}\n", users_without_test);
  if (items_without_train > 0) s += fmt::format("  items without train: {}\n", items_without_train);
  if (test_without_train > 0) {
    s += fmt::format("  test records whose user or item has no train records: {} (kept)\n",
                     test_without_train);
  }
  s += fmt::format("  {:.2f} s, peak RSS {:.1f} MiB", seconds,
                   static_cast<double>(peak_rss_bytes) / (1 << 20));
  return s;
}

namespace {

// Drops the given test records that cannot be evaluated against the cleaned
// train data, counting each under its reason.
void filter_given_test(const Interactions& train, const std::vector<bool>& user_before_kcore,
                       const std::vector<bool>& item_before_kcore, int64_t num_users,
                       int64_t num_items, bool keep_unseen, Interactions* test,
                       DropCounts* dropped) {
  const std::vector<bool> user_kept = used_ids(train.user, num_users);
  const std::vector<bool> item_kept = used_ids(train.item, num_items);
  std::vector<bool> keep(test->size(), true);
  for (size_t r = 0; r < test->size(); ++r) {
    const auto u = static_cast<size_t>(test->user[r]);
    const auto i = static_cast<size_t>(test->item[r]);
    if (!user_kept[u] || !item_kept[i]) {
      const bool kcore_removed = (!user_kept[u] && user_before_kcore[u]) ||
                                 (!item_kept[i] && item_before_kcore[i]);
      // --unseen-test keep: ids that never had train records stay.
      if (keep_unseen && !kcore_removed) continue;
      ++(*dropped)[kcore_removed ? DropReason::kKcore : DropReason::kIdNotInTrain];
      keep[r] = false;
    } else if (train.contains(test->user[r], test->item[r])) {
      ++(*dropped)[DropReason::kTestInTrain];
      keep[r] = false;
    }
  }
  test->keep(keep);
}

}  // namespace

namespace {

// Records of cold items, by original ids, as read.
struct ColdRecords {
  std::vector<std::string> item_ids;  // the cold items, sorted
  std::vector<std::string> user_key;
  std::vector<int64_t> item;  // index into item_ids
  std::vector<float> weight;
  std::vector<int64_t> time;
};

uint64_t key_hash(const std::string& key) {  // FNV-1a: the same on every platform
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : key) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h;
}

// Moves every record of a `share` of the items with train records (the ones
// of smallest hash(seed, id): the choice depends on ids and seed only) out of
// raw.train and raw.test, and out of raw.stats.records (they are counted
// back once placed).
ColdRecords hold_out_items(RawInteractions* raw, double share, uint64_t seed) {
  const std::vector<bool> with_train = used_ids(raw->train.item, raw->items.size());
  std::vector<std::pair<uint64_t, int64_t>> ranked;
  for (int64_t i = 0; i < raw->items.size(); ++i) {
    if (with_train[static_cast<size_t>(i)]) {
      ranked.emplace_back(hash_key(seed, key_hash(raw->items.key(i)), 0xc01d), i);
    }
  }
  std::sort(ranked.begin(), ranked.end());
  const auto n = static_cast<int64_t>(std::llround(share * static_cast<double>(ranked.size())));
  if (n < 1 || n >= static_cast<int64_t>(ranked.size())) {
    HR_THROW(UsageError, "--cold-items {}: holds out {} of the {} items with train records; give a "
             "share that keeps at least one item on each side", share, n, ranked.size());
  }
  ColdRecords cold;
  for (int64_t r = 0; r < n; ++r) cold.item_ids.push_back(raw->items.key(ranked[static_cast<size_t>(r)].second));
  std::sort(cold.item_ids.begin(), cold.item_ids.end());
  std::vector<int64_t> cold_index(static_cast<size_t>(raw->items.size()), -1);
  for (size_t c = 0; c < cold.item_ids.size(); ++c) {
    cold_index[static_cast<size_t>(raw->items.find(cold.item_ids[c]))] = static_cast<int64_t>(c);
  }
  const auto take = [&](Interactions* x) {
    std::vector<bool> keep(x->size(), true);
    for (size_t r = 0; r < x->size(); ++r) {
      const int64_t c = cold_index[static_cast<size_t>(x->item[r])];
      if (c < 0) continue;
      keep[r] = false;
      cold.user_key.push_back(raw->users.key(x->user[r]));
      cold.item.push_back(c);
      cold.weight.push_back(x->weight[r]);
      cold.time.push_back(x->has_time ? x->time[r] : 0);
    }
    x->keep(keep);
  };
  take(&raw->train);
  if (raw->test) take(&*raw->test);
  raw->stats.records -= static_cast<int64_t>(cold.user_key.size());
  return cold;
}

// The cold records on the dataset's dense users: d.cold_item_ids and
// d.cold_test, with the counts in the report.
void place_cold(ColdRecords cold, Dataset* d, PrepareReport* report) {
  IdTable users;
  for (const std::string& u : d->user_ids) users.intern(u);
  Interactions x;
  x.has_time = d->train.has_time;
  int64_t unknown = 0;
  for (size_t r = 0; r < cold.user_key.size(); ++r) {
    const int64_t u = users.find(cold.user_key[r]);
    if (u == IdTable::kMissing) {
      ++unknown;
      continue;
    }
    x.push(u, cold.item[r], cold.weight[r], cold.time[r]);
  }
  const int64_t merged = x.merge_duplicates([&](int64_t u, int64_t c) {
    return fmt::format("user '{}' and cold item '{}'", quote(d->user_ids[static_cast<size_t>(u)]),
                       quote(cold.item_ids[static_cast<size_t>(c)]));
  });
  report->dropped[DropReason::kIdNotInTrain] += unknown;
  report->dropped[DropReason::kDuplicate] += merged;
  report->records_read += static_cast<int64_t>(cold.user_key.size());
  report->records_kept += static_cast<int64_t>(x.size());
  report->cold_items = static_cast<int64_t>(cold.item_ids.size());
  report->cold_test = static_cast<int64_t>(x.size());
  d->cold_item_ids = std::move(cold.item_ids);
  d->cold_test = std::move(x);
  HR_CHECK(report->records_read == report->records_kept + report->dropped.total(),
           "records read {} != kept {} + dropped {}", report->records_read, report->records_kept,
           report->dropped.total());
}

}  // namespace

Dataset build_dataset(RawInteractions raw, int64_t kcore, const SplitSpec& split, uint64_t seed,
                      PrepareReport* report, bool keep_unseen) {
  DropCounts& dropped = report->dropped;
  dropped += raw.stats.dropped;
  Interactions& train = raw.train;
  const int64_t num_users = raw.users.size();
  const int64_t num_items = raw.items.size();

  Stopwatch watch;
  const auto name = [&](int64_t u, int64_t i) {
    return fmt::format("user '{}' and item '{}'", quote(raw.users.key(u)), quote(raw.items.key(i)));
  };
  dropped[DropReason::kDuplicate] += train.merge_duplicates(name);
  log::debug("merged duplicates: {:.2f} s", watch.seconds());
  const std::vector<bool> user_before_kcore = used_ids(train.user, num_users);
  const std::vector<bool> item_before_kcore = used_ids(train.item, num_items);
  dropped[DropReason::kKcore] += kcore_filter(&train, num_users, num_items, kcore);

  Interactions test;
  test.has_time = train.has_time;
  if (raw.test) {
    test = std::move(*raw.test);
    dropped[DropReason::kDuplicate] += test.merge_duplicates(name);
    filter_given_test(train, user_before_kcore, item_before_kcore, num_users, num_items,
                      keep_unseen, &test, &dropped);
  }

  // Canonical dense ids over what remains (with kept unseen test ids).
  Dataset d;
  std::vector<bool> user_used = used_ids(train.user, num_users);
  std::vector<bool> item_used = used_ids(train.item, num_items);
  if (keep_unseen) {
    for (size_t r = 0; r < test.size(); ++r) {
      user_used[static_cast<size_t>(test.user[r])] = true;
      item_used[static_cast<size_t>(test.item[r])] = true;
    }
  }
  const std::vector<int64_t> user_map = raw.users.finalize(user_used, &d.user_ids);
  const std::vector<int64_t> item_map = raw.items.finalize(item_used, &d.item_ids);
  train.remap(user_map, item_map);
  test.remap(user_map, item_map);

  log::debug("k-core and dense ids: {:.2f} s", watch.seconds());
  if (!raw.test) split_per_user(split, seed, &train, &test);
  train.sort();
  test.sort();
  log::debug("split: {:.2f} s", watch.seconds());
  d.train = std::move(train);
  d.test = std::move(test);
  d.split = raw.test ? "given" : split.to_string();
  d.seed = seed;

  report->users = d.num_users();
  report->items = d.num_items();
  report->train = static_cast<int64_t>(d.train.size());
  report->test = static_cast<int64_t>(d.test.size());
  report->split = d.split;
  report->lines_read = raw.stats.lines;
  report->blank_lines = raw.stats.blank_lines;
  report->records_read = raw.stats.records;
  report->records_kept = report->train + report->test;
  const std::vector<bool> with_train = used_ids(d.train.user, d.num_users());
  const std::vector<bool> with_test = used_ids(d.test.user, d.num_users());
  const std::vector<bool> item_with_train = used_ids(d.train.item, d.num_items());
  report->users_without_train = std::count(with_train.begin(), with_train.end(), false);
  report->users_without_test = std::count(with_test.begin(), with_test.end(), false);
  report->items_without_train =
      std::count(item_with_train.begin(), item_with_train.end(), false);
  for (size_t r = 0; r < d.test.size(); ++r) {
    if (!with_train[static_cast<size_t>(d.test.user[r])] ||
        !item_with_train[static_cast<size_t>(d.test.item[r])]) {
      ++report->test_without_train;
    }
  }
  // Invariant 4: every record read is kept or counted as dropped.
  HR_CHECK(report->records_read == report->records_kept + dropped.total(),
           "records read {} != kept {} + dropped {}", report->records_read, report->records_kept,
           dropped.total());
  return d;
}

std::map<std::string, float> parse_behavior_weights(const std::string& value) {
  std::map<std::string, float> weights;
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    if (comma == std::string::npos) comma = value.size();
    const std::string part = value.substr(start, comma - start);
    const size_t eq = part.find('=');
    float w = 0;
    bool ok = eq != std::string::npos && eq > 0;
    if (ok) {
      try {
        size_t used = 0;
        w = std::stof(part.substr(eq + 1), &used);
        ok = used == part.size() - eq - 1 && std::isfinite(w) && w > 0;
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok) {
      HR_THROW(UsageError,
               "--behavior-weights: '{}' is not name=weight with a positive weight (example: "
               "view=1,cart=2,buy=4)",
               part);
    }
    weights[part.substr(0, eq)] = w;
    start = comma + 1;
  }
  return weights;
}

namespace {

void validate(const PrepareOptions& o) {
  using Format = PrepareOptions::Format;
  if (o.train_path.empty()) {
    HR_THROW(UsageError, "{} is required", o.format == Format::kLightgcn ? "--train" : "--input");
  }
  if (o.out.empty()) HR_THROW(UsageError, "--out is required");
  if (o.format == Format::kLightgcn &&
      (o.delimited.rating_col || o.delimited.time_col || o.delimited.behavior_col ||
       o.delimited.weight_col)) {
    HR_THROW(UsageError,
             "--rating-col, --time-col, --behavior-col and --weight-col need --format csv or "
             "tsv (a LightGCN line 'user item item ...' has no columns)");
  }
  if (o.reader.min_rating && !o.delimited.rating_col) {
    HR_THROW(UsageError, "--min-rating needs --rating-col");
  }
  if (!o.reader.behavior_weights.empty() && !o.delimited.behavior_col) {
    HR_THROW(UsageError, "--behavior-weights needs --behavior-col");
  }
  if (!o.test_path.empty() && o.split.kind != SplitSpec::Kind::kNone &&
      o.split.kind != SplitSpec::Kind::kGiven) {
    HR_THROW(UsageError, "--test and --split {} exclude each other", o.split.to_string());
  }
  if (o.split.kind == SplitSpec::Kind::kTemporal && !o.delimited.time_col) {
    HR_THROW(UsageError, "--split {} needs --time-col", o.split.to_string());
  }
  if (o.kcore < 0) HR_THROW(UsageError, "--kcore must be >= 0, got {}", o.kcore);
  if (!(o.cold_items >= 0 && o.cold_items < 1)) {
    HR_THROW(UsageError, "--cold-items must be a share in [0, 1), got {}", o.cold_items);
  }
  const std::string input_option = o.format == Format::kLightgcn ? "--train" : "--input";
  check_output_file({"--out", o.out}, {{input_option, o.train_path}, {"--test", o.test_path}},
                    is_dataset_file);
}

void read_file(const PrepareOptions& o, const std::string& path, ReadContext* ctx) {
  if (o.format == PrepareOptions::Format::kLightgcn) {
    read_lightgcn(path, ctx);
  } else {
    read_delimited(path, o.delimited, ctx);
  }
  ctx->check_skipped(path);
  if (ctx->stats().records == 0) {
    HR_THROW(InputError, "{}: the file has no interactions{}", path,
             o.delimited.header ? " after the header" : "");
  }
}

}  // namespace

PrepareReport run_prepare(const PrepareOptions& o) {
  const PathLock lock = lock_output({"--out", o.out}, false);
  validate(o);
  Stopwatch watch;
  RawInteractions raw;
  raw.train.has_time = o.delimited.time_col.has_value();
  {
    ReadContext ctx(o.reader, &raw.users, &raw.items, IdMode::kAdd, &raw.train);
    read_file(o, o.train_path, &ctx);
    raw.stats = ctx.stats();
    log::info("read {}: {} lines, {} records", o.train_path, ctx.stats().lines,
              ctx.stats().records);
  }
  if (!o.test_path.empty()) {
    raw.test.emplace();
    raw.test->has_time = raw.train.has_time;
    ReadContext ctx(o.reader, &raw.users, &raw.items, IdMode::kMustExist, &*raw.test);
    read_file(o, o.test_path, &ctx);
    raw.stats.lines += ctx.stats().lines;
    raw.stats.blank_lines += ctx.stats().blank_lines;
    raw.stats.records += ctx.stats().records;
    raw.stats.dropped += ctx.stats().dropped;
    raw.stats.unseen_test_kept += ctx.stats().unseen_test_kept;
    log::info("read {}: {} lines, {} records", o.test_path, ctx.stats().lines,
              ctx.stats().records);
  }
  PrepareReport report;
  report.unseen_test = o.reader.unseen_test == UnseenTest::kKeep ? "keep"
                       : (o.reader.unseen_test == UnseenTest::kDrop || o.reader.skip_bad_lines)
                           ? "drop"
                           : "error";
  Phases phases("prepare");
  // Names first: a bad names file stops before the work.
  ItemNames names;
  if (!o.item_names_path.empty()) {
    names = read_item_names(o.item_names_path, o.item_names);
    report.item_names = o.item_names_path;
    report.names_read = static_cast<int64_t>(names.size());
  }
  ColdRecords cold;
  if (o.cold_items > 0) cold = hold_out_items(&raw, o.cold_items, o.seed);
  Dataset d = build_dataset(std::move(raw), o.kcore, o.split, o.seed, &report,
                            o.reader.unseen_test == UnseenTest::kKeep);
  if (o.cold_items > 0) {
    report.cold_share = o.cold_items;
    place_cold(std::move(cold), &d, &report);
  }
  if (!o.item_names_path.empty()) {
    std::vector<std::string> ids = d.item_ids;
    ids.insert(ids.end(), d.cold_item_ids.begin(), d.cold_item_ids.end());
    d.item_names = names_of(names, ids);
    report.items_named = static_cast<int64_t>(d.item_names.size());
    if (d.item_names.empty()) {
      HR_THROW(InputError, "{}: none of its {} ids is an item of the dataset (ids are matched as "
               "text: check --item-names-cols)", o.item_names_path, names.size());
    }
  }
  phases.done("cleaned and split");
  if (d.train.size() == 0) {
    HR_THROW(InputError, "{}: no train interactions are left after cleaning", o.train_path);
  }
  static const char* format_names[] = {"lightgcn", "csv", "tsv"};
  d.source = fmt::format("prepare --format {} {}{}", format_names[static_cast<int>(o.format)],
                         o.train_path, o.test_path.empty() ? "" : " --test " + o.test_path);
  report.out = o.out;
  report.seconds = watch.seconds();
  report.peak_rss_bytes = peak_rss_bytes();
  report.fingerprint = d.fingerprint();
  log::debug("fingerprint: {:.2f} s", watch.seconds());
  write_dataset(d, o.out, report.to_json().dump(), report.fingerprint);
  phases.done("wrote the dataset");
  report.seconds = watch.seconds();
  report.peak_rss_bytes = peak_rss_bytes();
  return report;
}

}  // namespace halorec::data

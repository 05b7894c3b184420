#include "data/append.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <utility>

#include "core/check.h"
#include "core/log.h"
#include "core/output_path.h"
#include "core/quote.h"
#include "core/resources.h"
#include "data/dataset.h"
#include "data/delimited_reader.h"
#include "data/lightgcn_reader.h"
#include "data/read_context.h"

namespace halorec::data {

namespace {

void read_into(const PrepareOptions& o, const std::string& path, ReadContext* ctx) {
  if (o.format == PrepareOptions::Format::kLightgcn) {
    read_lightgcn(path, ctx);
  } else {
    read_delimited(path, o.delimited, ctx);
  }
  ctx->check_skipped(path);
}

// Dense ids for a table's ids past `known` (the parent's): kept ones in
// canonical order (IdTable::finalize's rule over the new ids alone), appended
// after the parent's. Returns provisional -> dense for every id.
std::vector<int64_t> append_ids(const IdTable& table, int64_t known, const std::vector<bool>& used,
                                std::vector<std::string>* ids) {
  std::vector<int64_t> map(static_cast<size_t>(table.size()), IdTable::kMissing);
  for (int64_t k = 0; k < known; ++k) map[static_cast<size_t>(k)] = k;
  IdTable fresh;
  std::vector<int64_t> provisional;
  for (int64_t k = known; k < table.size(); ++k) {
    if (!used[static_cast<size_t>(k)]) continue;
    fresh.intern(table.key(k));
    provisional.push_back(k);
  }
  std::vector<std::string> ordered;
  const std::vector<int64_t> order =
      fresh.finalize(std::vector<bool>(provisional.size(), true), &ordered);
  for (size_t j = 0; j < provisional.size(); ++j) {
    map[static_cast<size_t>(provisional[j])] = known + order[j];
  }
  ids->insert(ids->end(), ordered.begin(), ordered.end());
  return map;
}

std::vector<bool> used_of(const Interactions& x, int64_t n, bool users) {
  std::vector<bool> used(static_cast<size_t>(n), false);
  for (int64_t v : users ? x.user : x.item) used[static_cast<size_t>(v)] = true;
  return used;
}

void append_records(const Interactions& from, Interactions* to) {
  for (size_t r = 0; r < from.size(); ++r) {
    to->push(from.user[r], from.item[r], from.weight[r], from.has_time ? from.time[r] : 0);
  }
}

}  // namespace

PrepareReport run_append(const PrepareOptions& o, const std::string& parent_path) {
  if (o.train_path.empty()) HR_THROW(UsageError, "--input (the new interactions) is required");
  if (o.out.empty()) HR_THROW(UsageError, "--out is required");
  if (o.kcore > 0) {
    HR_THROW(UsageError, "--kcore with --append-to: a k-core would drop the parent's users and "
             "items; prepare the whole grown log instead");
  }
  if (o.split.kind != SplitSpec::Kind::kNone) {
    HR_THROW(UsageError, "--split with --append-to: the new records follow the parent's split "
             "({}); leave --split out", read_dataset_info(parent_path).split);
  }
  const PathLock lock = lock_output({"--out", o.out}, false);
  check_output_file({"--out", o.out},
                    {{"--append-to", parent_path}, {"--input", o.train_path},
                     {"--test", o.test_path}},
                    is_dataset_file);
  Stopwatch watch;
  const Dataset parent = read_dataset(parent_path);
  const DatasetInfo parent_info = read_dataset_info(parent_path);
  if (!parent.cold_item_ids.empty()) {
    HR_THROW(UsageError, "--append-to '{}': it holds {} cold items out of train (prepare "
             "--cold-items), which new records would make warm; prepare the whole grown log "
             "with --cold-items instead", parent_path, parent.cold_item_ids.size());
  }
  const bool has_time = o.delimited.time_col.has_value();
  if (parent.train.has_time != has_time) {
    HR_THROW(UsageError, "'{}' {} times, the new log {} (--time-col): append a log with the "
             "parent's columns", parent_path, parent.train.has_time ? "has" : "has no",
             has_time ? "has them" : "has none");
  }
  const int64_t U0 = parent.num_users();
  const int64_t I0 = parent.num_items();

  // The parent's ids first: their provisional ids are their dense ids.
  RawInteractions raw;
  for (const std::string& u : parent.user_ids) raw.users.intern(u);
  for (const std::string& i : parent.item_ids) raw.items.intern(i);
  raw.train.has_time = has_time;
  {
    ReadContext ctx(o.reader, &raw.users, &raw.items, IdMode::kAdd, &raw.train);
    read_into(o, o.train_path, &ctx);
    raw.stats = ctx.stats();
  }
  if (raw.stats.records == 0) HR_THROW(InputError, "{}: the file has no interactions", o.train_path);
  Interactions new_test;
  new_test.has_time = has_time;
  if (!o.test_path.empty()) {
    ReadContext ctx(o.reader, &raw.users, &raw.items, IdMode::kMustExist, &new_test);
    read_into(o, o.test_path, &ctx);
    raw.stats.lines += ctx.stats().lines;
    raw.stats.blank_lines += ctx.stats().blank_lines;
    raw.stats.records += ctx.stats().records;
    raw.stats.dropped += ctx.stats().dropped;
  }
  PrepareReport report;
  report.parent = parent_path;
  report.parent_fingerprint = parent_info.fingerprint;
  report.dropped += raw.stats.dropped;

  // Repeats within the new log merge; repeats of the parent's pairs go.
  Interactions& fresh = raw.train;
  const auto name = [&](int64_t u, int64_t i) {
    return fmt::format("user '{}' and item '{}'", quote(raw.users.key(u)), quote(raw.items.key(i)));
  };
  report.dropped[DropReason::kDuplicate] += fresh.merge_duplicates(name);
  report.dropped[DropReason::kDuplicate] += new_test.merge_duplicates(name);
  // (The parent's records are sorted by (user, item); merge_duplicates
  // sorted the new ones.)
  for (Interactions* x : {&fresh, &new_test}) {
    std::vector<bool> keep(x->size(), true);
    for (size_t r = 0; r < x->size(); ++r) {
      const int64_t u = x->user[r], i = x->item[r];
      if ((u < U0 && i < I0) && (parent.train.contains(u, i) || parent.test.contains(u, i))) {
        keep[r] = false;
        ++report.dropped[DropReason::kDuplicate];
      }
    }
    x->keep(keep);
  }
  {  // a test record also in the new train log is train's
    std::vector<bool> keep(new_test.size(), true);
    for (size_t r = 0; r < new_test.size(); ++r) {
      if (fresh.contains(new_test.user[r], new_test.item[r])) {
        keep[r] = false;
        ++report.dropped[DropReason::kTestInTrain];
      }
    }
    new_test.keep(keep);
  }

  // Dense ids: the parent's unchanged, new ones appended.
  Dataset d;
  d.user_ids = parent.user_ids;
  d.item_ids = parent.item_ids;
  d.item_names = parent.item_names;  // new items are unnamed
  std::vector<bool> user_used = used_of(fresh, raw.users.size(), true);
  std::vector<bool> item_used = used_of(fresh, raw.items.size(), false);
  for (size_t r = 0; r < new_test.size(); ++r) {
    user_used[static_cast<size_t>(new_test.user[r])] = true;
    item_used[static_cast<size_t>(new_test.item[r])] = true;
  }
  const std::vector<int64_t> user_map = append_ids(raw.users, U0, user_used, &d.user_ids);
  const std::vector<int64_t> item_map = append_ids(raw.items, I0, item_used, &d.item_ids);
  fresh.remap(user_map, item_map);
  new_test.remap(user_map, item_map);
  const int64_t new_records = static_cast<int64_t>(fresh.size() + new_test.size());

  // The parent's split rule.
  const SplitSpec rule = parent.split == "given" || parent.split == "none"
                             ? SplitSpec{}
                             : parse_split(parent.split);
  d.train = parent.train;
  d.test = parent.test;
  if (rule.kind == SplitSpec::Kind::kRandom) {
    split_per_user(rule, parent.seed, &fresh, &new_test);
    append_records(fresh, &d.train);
    append_records(new_test, &d.test);
  } else if (rule.kind == SplitSpec::Kind::kTemporal) {
    // Every user's latest N of all their records: what a temporal split of
    // the grown log gives (users without new records keep their split).
    append_records(fresh, &d.train);
    append_records(new_test, &d.train);
    append_records(d.test, &d.train);
    d.test = Interactions();
    d.test.has_time = has_time;
    split_per_user(rule, parent.seed, &d.train, &d.test);
  } else {
    append_records(fresh, &d.train);
    append_records(new_test, &d.test);
  }
  d.train.sort();
  d.test.sort();
  d.split = parent.split;
  d.seed = parent.seed;
  d.source = fmt::format("{} + append {}", parent.source, o.train_path);
  d.parent_fingerprint = parent_info.fingerprint;
  if (!parent.user_community.empty()) {  // planted communities: none for new ids
    d.user_community = parent.user_community;
    d.item_community = parent.item_community;
    d.user_community.resize(d.user_ids.size(), -1);
    d.item_community.resize(d.item_ids.size(), -1);
  }

  report.users = d.num_users();
  report.items = d.num_items();
  report.new_users = d.num_users() - U0;
  report.new_items = d.num_items() - I0;
  report.train = static_cast<int64_t>(d.train.size());
  report.test = static_cast<int64_t>(d.test.size());
  report.split = d.split;
  report.lines_read = raw.stats.lines;
  report.blank_lines = raw.stats.blank_lines;
  report.records_read = raw.stats.records;
  report.records_kept = new_records;
  HR_CHECK(report.records_read == report.records_kept + report.dropped.total(),
           "records read {} != kept {} + dropped {}", report.records_read, report.records_kept,
           report.dropped.total());
  log::info("append to {}: {} new records, {} new users, {} new items", parent_path, new_records,
            report.new_users, report.new_items);
  report.out = o.out;
  report.fingerprint = d.fingerprint();
  write_dataset(d, o.out, report.to_json().dump(), report.fingerprint);
  report.seconds = watch.seconds();
  report.peak_rss_bytes = peak_rss_bytes();
  return report;
}

}  // namespace halorec::data

#include "data/dataset.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/counting_sort.h"
#include "core/digest.h"
#include "core/staged_path.h"
#include "core/version.h"
#include "data/item_names_h5.h"
#include "h5/file.h"

namespace halorec::data {

std::string Dataset::fingerprint() const {
  Sha256 sha;
  sha.update(std::string(kDatasetFormat));
  sha.update_u64(user_ids.size());
  for (const auto& s : user_ids) sha.update(s);
  sha.update_u64(item_ids.size());
  for (const auto& s : item_ids) sha.update(s);
  for (const Interactions* part : {&train, &test}) {
    sha.update_vector(part->user);
    sha.update_vector(part->item);
    sha.update_vector(part->weight);
  }
  if (!cold_item_ids.empty()) {  // only then: older datasets keep their fingerprints
    sha.update(std::string("cold items"));
    sha.update_u64(cold_item_ids.size());
    for (const auto& s : cold_item_ids) sha.update(s);
    sha.update_vector(cold_test.user);
    sha.update_vector(cold_test.item);
    sha.update_vector(cold_test.weight);
  }
  return sha.hex();
}

namespace {

void write_interactions(hid_t file, const char* name, const Interactions& x, int64_t num_users) {
  h5::Handle g = h5::create_group(file, name);
  h5::write_array(g.get(), "user", x.user);
  h5::write_array(g.get(), "item", x.item);
  h5::write_array(g.get(), "weight", x.weight);
  if (x.has_time) h5::write_array(g.get(), "time", x.time);
  // CSR offsets: the records of user u are [indptr[u], indptr[u+1]).
  CountingSort by_user(num_users);
  for (int64_t u : x.user) by_user.count(u);
  by_user.finish_counts();
  h5::write_array(g.get(), "indptr", by_user.offsets());
  h5::set_attr(g.get(), "count", static_cast<int64_t>(x.size()));
}

Interactions read_interactions(hid_t file, const char* name, int64_t num_users) {
  h5::Handle g = h5::open_group(file, name);
  Interactions x;
  x.user = h5::read_array<int64_t>(g.get(), "user");
  x.item = h5::read_array<int64_t>(g.get(), "item");
  x.weight = h5::read_array<float>(g.get(), "weight");
  x.has_time = h5::exists(g.get(), "time");
  if (x.has_time) x.time = h5::read_array<int64_t>(g.get(), "time");
  if (x.item.size() != x.user.size() || x.weight.size() != x.user.size() ||
      (x.has_time && x.time.size() != x.user.size())) {
    HR_THROW(InputError, "{}: user, item, weight and time differ in length",
             h5::describe(g.get()));
  }
  // count and indptr are derived (for readers of the file): they must agree.
  if (h5::get_attr_int(g.get(), "count") != static_cast<int64_t>(x.size())) {
    HR_THROW(InputError, "{}: count does not match its arrays", h5::describe(g.get()));
  }
  const std::vector<int64_t> indptr = h5::read_array<int64_t>(g.get(), "indptr");
  bool agrees = static_cast<int64_t>(indptr.size()) == num_users + 1 && indptr.front() == 0 &&
                indptr.back() == static_cast<int64_t>(x.size());
  for (int64_t u = 0; agrees && u < num_users; ++u) {
    const int64_t a = indptr[static_cast<size_t>(u)], b = indptr[static_cast<size_t>(u) + 1];
    agrees = a <= b && b <= static_cast<int64_t>(x.size()) &&
             (a == b || (x.user[static_cast<size_t>(a)] == u && x.user[static_cast<size_t>(b) - 1] == u));
  }
  if (!agrees) HR_THROW(InputError, "{}: indptr does not match the user array", h5::describe(g.get()));
  for (size_t r = 0; r < x.size(); ++r) {
    if (!(std::isfinite(x.weight[r]) && x.weight[r] > 0)) {
      HR_THROW(InputError, "{}: weight[{}] = {} is not a positive number", h5::describe(g.get()),
               r, x.weight[r]);
    }
  }
  return x;
}

void check_header(hid_t file, const std::string& path) {
  h5::check_file_kind(file, path, {kDatasetFormat, kDatasetFormatVersion, "dataset",
                                   "make one with 'halorec prepare'"});
}

}  // namespace

void write_dataset(const Dataset& d, const std::string& path, const std::string& report_json,
                   const std::string& fingerprint) {
  StagedPath staged(path);
  {
    h5::Handle file = h5::create_file(staged.temp());
    const hid_t f = file.get();
    h5::set_attr(f, "format", kDatasetFormat);
    h5::set_attr(f, "format_version", kDatasetFormatVersion);
    h5::set_attr(f, "created_by", std::string("halorec ") + kVersion);
    h5::set_attr(f, "num_users", d.num_users());
    h5::set_attr(f, "num_items", d.num_items());
    h5::set_attr(f, "num_train", static_cast<int64_t>(d.train.size()));
    h5::set_attr(f, "num_test", static_cast<int64_t>(d.test.size()));
    h5::set_attr(f, "fingerprint", fingerprint);
    h5::set_attr(f, "split", d.split);
    h5::set_attr(f, "seed", static_cast<int64_t>(d.seed));
    h5::set_attr(f, "source", d.source);
    h5::set_attr(f, "prepare_report", report_json);
    if (!d.parent_fingerprint.empty()) h5::set_attr(f, "parent_fingerprint", d.parent_fingerprint);
    {
      h5::Handle users = h5::create_group(f, "users");
      h5::write_strings(users.get(), "original_id", d.user_ids);
      h5::Handle items = h5::create_group(f, "items");
      h5::write_strings(items.get(), "original_id", d.item_ids);
    }
    write_interactions(f, "train", d.train, d.num_users());
    write_interactions(f, "test", d.test, d.num_users());
    if (!d.user_community.empty()) {
      h5::Handle planted = h5::create_group(f, "planted");
      h5::write_array(planted.get(), "user_community", d.user_community);
      h5::write_array(planted.get(), "item_community", d.item_community);
    }
    if (!d.item_names.empty()) write_item_names(f, d.item_names);
    if (!d.cold_item_ids.empty()) {
      h5::Handle cold = h5::create_group(f, "cold");
      h5::write_strings(cold.get(), "original_id", d.cold_item_ids);
      write_interactions(cold.get(), "test", d.cold_test, d.num_users());
    }
    h5::close_file(file, path);
  }
  staged.commit();
}

DatasetInfo read_dataset_info(const std::string& path) {
  h5::Handle file = h5::open_file(path, "dataset");
  const hid_t f = file.get();
  check_header(f, path);
  DatasetInfo info;
  info.path = path;
  info.num_users = h5::get_attr_int(f, "num_users");
  info.num_items = h5::get_attr_int(f, "num_items");
  info.num_train = h5::get_attr_int(f, "num_train");
  info.num_test = h5::get_attr_int(f, "num_test");
  info.fingerprint = h5::get_attr_string(f, "fingerprint");
  info.split = h5::get_attr_string(f, "split");
  info.source = h5::get_attr_string(f, "source");
  info.prepare_report = h5::get_attr_string(f, "prepare_report");
  if (h5::has_attr(f, "parent_fingerprint")) {
    info.parent_fingerprint = h5::get_attr_string(f, "parent_fingerprint");
  }
  for (const int64_t n : {info.num_users, info.num_items, info.num_train, info.num_test}) {
    if (n < 0 || n > (int64_t{1} << 40)) {
      HR_THROW(InputError, "'{}': a count attribute is {} (corrupt or modified)", path, n);
    }
  }
  return info;
}

std::vector<std::string> read_original_ids(const std::string& path, const std::vector<int64_t>& ids,
                                           int64_t num_users) {
  h5::Handle file = h5::open_file(path, "dataset");
  check_header(file.get(), path);
  const auto first_item = std::lower_bound(ids.begin(), ids.end(), num_users);
  std::vector<std::string> out =
      h5::read_strings_at(file.get(), "users/original_id", std::vector<int64_t>(ids.begin(), first_item));
  std::vector<int64_t> items(first_item, ids.end());
  for (int64_t& v : items) v -= num_users;
  for (std::string& s : h5::read_strings_at(file.get(), "items/original_id", items)) {
    out.push_back(std::move(s));
  }
  return out;
}

Dataset read_dataset(const std::string& path) {
  h5::Handle file = h5::open_file(path, "dataset");
  const hid_t f = file.get();
  check_header(f, path);
  Dataset d;
  d.user_ids = h5::read_strings(f, "users/original_id");
  d.item_ids = h5::read_strings(f, "items/original_id");
  d.train = read_interactions(f, "train", d.num_users());
  d.test = read_interactions(f, "test", d.num_users());
  d.split = h5::get_attr_string(f, "split");
  d.seed = static_cast<uint64_t>(h5::get_attr_int(f, "seed"));
  d.source = h5::get_attr_string(f, "source");
  if (h5::has_attr(f, "parent_fingerprint")) {
    d.parent_fingerprint = h5::get_attr_string(f, "parent_fingerprint");
  }
  if (h5::exists(f, "planted")) {
    d.user_community = h5::read_array<int32_t>(f, "planted/user_community");
    d.item_community = h5::read_array<int32_t>(f, "planted/item_community");
  }
  if (h5::exists(f, "item_names")) d.item_names = read_item_names_group(f, path);
  if (h5::exists(f, "cold")) {
    h5::Handle cold = h5::open_group(f, "cold");
    d.cold_item_ids = h5::read_strings(cold.get(), "original_id");
    d.cold_test = read_interactions(cold.get(), "test", d.num_users());
    const auto C = static_cast<int64_t>(d.cold_item_ids.size());
    for (size_t r = 0; r < d.cold_test.size(); ++r) {
      if (d.cold_test.item[r] < 0 || d.cold_test.item[r] >= C ||
          d.cold_test.user[r] < 0 || d.cold_test.user[r] >= d.num_users()) {
        HR_THROW(InputError, "'{}': cold test record {} has ids ({}, {}) outside {} users x {} "
                 "cold items", path, r, d.cold_test.user[r], d.cold_test.item[r], d.num_users(), C);
      }
    }
  }
  for (const Interactions* x : {&d.train, &d.test}) {
    for (size_t r = 0; r < x->size(); ++r) {
      if (r > 0 && (x->user[r] < x->user[r - 1] ||
                    (x->user[r] == x->user[r - 1] && x->item[r] <= x->item[r - 1]))) {
        HR_THROW(InputError, "'{}': record {} breaks the (user, item) order or repeats a pair",
                 path, r);
      }
      if (x->user[r] < 0 || x->user[r] >= d.num_users() || x->item[r] < 0 ||
          x->item[r] >= d.num_items()) {
        HR_THROW(InputError, "'{}': record {} has ids ({}, {}) outside {} users x {} items", path,
                 r, x->user[r], x->item[r], d.num_users(), d.num_items());
      }
    }
  }
  // The header's counts (read alone by read_dataset_info) match the arrays.
  if (h5::get_attr_int(f, "num_users") != d.num_users() ||
      h5::get_attr_int(f, "num_items") != d.num_items() ||
      h5::get_attr_int(f, "num_train") != static_cast<int64_t>(d.train.size()) ||
      h5::get_attr_int(f, "num_test") != static_cast<int64_t>(d.test.size())) {
    HR_THROW(InputError, "'{}': its num_users/num_items/num_train/num_test attributes do not "
             "match its arrays (corrupt or modified)", path);
  }
  if (h5::get_attr_string(f, "fingerprint") != d.fingerprint()) {
    HR_THROW(InputError, "'{}': content does not match its fingerprint (corrupt or modified)",
             path);
  }
  return d;
}

ItemNames read_dataset_item_names(const std::string& path) {
  h5::Handle file = h5::open_file(path, "dataset");
  check_header(file.get(), path);
  if (!h5::exists(file.get(), "item_names")) return {};
  return read_item_names_group(file.get(), path);
}

bool is_dataset_file(const std::string& path) { return h5::file_format(path) == kDatasetFormat; }

}  // namespace halorec::data

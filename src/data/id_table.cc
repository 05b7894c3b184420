#include "data/id_table.h"

#include <algorithm>
#include <charconv>
#include <numeric>

namespace halorec::data {

bool parse_int64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

int64_t IdTable::intern(std::string_view key) {
  auto it = index_.find(key);
  if (it != index_.end()) return it->second;
  const int64_t id = size();
  keys_.emplace_back(key);
  index_.emplace(std::string_view(keys_.back()), id);
  return id;
}

int64_t IdTable::find(std::string_view key) const {
  auto it = index_.find(key);
  return it == index_.end() ? kMissing : it->second;
}

std::vector<int64_t> IdTable::finalize(const std::vector<bool>& used,
                                       std::vector<std::string>* ordered_keys) const {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < size(); ++i) {
    if (used[static_cast<size_t>(i)]) ids.push_back(i);
  }
  std::vector<int64_t> numeric(ids.size());
  bool all_numeric = true;
  for (size_t k = 0; k < ids.size() && all_numeric; ++k) {
    all_numeric = parse_int64(key(ids[k]), &numeric[k]);
  }
  if (all_numeric) {
    std::vector<size_t> order(ids.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return numeric[a] < numeric[b]; });
    std::vector<int64_t> sorted(ids.size());
    for (size_t k = 0; k < order.size(); ++k) sorted[k] = ids[order[k]];
    ids.swap(sorted);
  } else {
    std::sort(ids.begin(), ids.end(), [&](int64_t a, int64_t b) { return key(a) < key(b); });
  }
  std::vector<int64_t> remap(static_cast<size_t>(size()), kMissing);
  ordered_keys->clear();
  ordered_keys->reserve(ids.size());
  for (size_t k = 0; k < ids.size(); ++k) {
    remap[static_cast<size_t>(ids[k])] = static_cast<int64_t>(k);
    ordered_keys->push_back(key(ids[k]));
  }
  return remap;
}

}  // namespace halorec::data

#include "data/interactions.h"

#include <algorithm>
#include <numeric>

#include "core/check.h"

namespace halorec::data {

void Interactions::reserve(size_t n) {
  user.reserve(n);
  item.reserve(n);
  weight.reserve(n);
  if (has_time) time.reserve(n);
}

namespace {
template <typename T>
void keep_flagged(std::vector<T>& v, const std::vector<bool>& flags) {
  size_t out = 0;
  for (size_t k = 0; k < v.size(); ++k) {
    if (flags[k]) v[out++] = v[k];
  }
  v.resize(out);
  v.shrink_to_fit();
}

template <typename T>
void permute(std::vector<T>& v, const std::vector<int64_t>& order) {
  std::vector<T> out(v.size());
  for (size_t k = 0; k < order.size(); ++k) out[k] = v[static_cast<size_t>(order[k])];
  v.swap(out);
}
}  // namespace

void Interactions::keep(const std::vector<bool>& flags) {
  HR_CHECK_EQ(flags.size(), size());
  keep_flagged(user, flags);
  keep_flagged(item, flags);
  keep_flagged(weight, flags);
  if (has_time) keep_flagged(time, flags);
}

void Interactions::remap(const std::vector<int64_t>& users, const std::vector<int64_t>& items) {
  for (size_t k = 0; k < size(); ++k) {
    user[k] = users[static_cast<size_t>(user[k])];
    item[k] = items[static_cast<size_t>(item[k])];
    HR_CHECK(user[k] >= 0 && item[k] >= 0, "record {} maps to a dropped id", k);
  }
}

void Interactions::sort() {
  std::vector<int64_t> order(size());
  std::iota(order.begin(), order.end(), 0);
  auto key_less = [&](int64_t a, int64_t b) {
    if (user[a] != user[b]) return user[a] < user[b];
    if (item[a] != item[b]) return item[a] < item[b];
    return has_time ? time[a] < time[b] : a < b;
  };
  if (std::is_sorted(order.begin(), order.end(), key_less)) return;
  std::sort(order.begin(), order.end(), key_less);
  permute(user, order);
  permute(item, order);
  permute(weight, order);
  if (has_time) permute(time, order);
}

int64_t Interactions::merge_duplicates() {
  sort();
  size_t out = 0;
  for (size_t k = 0; k < size(); ++k) {
    if (out > 0 && user[out - 1] == user[k] && item[out - 1] == item[k]) {
      weight[out - 1] += weight[k];
      if (has_time) time[out - 1] = std::max(time[out - 1], time[k]);
      continue;
    }
    user[out] = user[k];
    item[out] = item[k];
    weight[out] = weight[k];
    if (has_time) time[out] = time[k];
    ++out;
  }
  const int64_t merged = static_cast<int64_t>(size() - out);
  user.resize(out);
  item.resize(out);
  weight.resize(out);
  if (has_time) time.resize(out);
  return merged;
}

const char* drop_reason_name(DropReason r) {
  switch (r) {
    case DropReason::kMalformed: return "malformed";
    case DropReason::kDuplicate: return "duplicate";
    case DropReason::kBelowRating: return "below_rating";
    case DropReason::kUnweightedBehavior: return "unweighted_behavior";
    case DropReason::kKcore: return "kcore";
    case DropReason::kUnknownIdInTest: return "unknown_id_in_test";
    case DropReason::kIdNotInTrain: return "id_not_in_train";
    case DropReason::kTestInTrain: return "test_in_train";
    default: return "?";
  }
}

int64_t DropCounts::total() const { return std::accumulate(n.begin(), n.end(), int64_t{0}); }

DropCounts& DropCounts::operator+=(const DropCounts& o) {
  for (size_t k = 0; k < n.size(); ++k) n[k] += o.n[k];
  return *this;
}

}  // namespace halorec::data

#include "data/interactions.h"

#include <algorithm>
#include <limits>
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

namespace {

// (user, item) in one integer when both fit in 32 bits (the order is the same).
bool packable(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  for (size_t k = 0; k < a.size(); ++k) {
    if (static_cast<uint64_t>(a[k]) >> 32 || static_cast<uint64_t>(b[k]) >> 32) return false;
  }
  return true;
}

// Sorts compact keys (not an index vector compared through random reads) and
// returns the permutation; `index` keeps the sort stable.
template <typename Key, typename Make>
std::vector<int64_t> sorted_order(size_t n, Make make) {
  std::vector<Key> keys(n);
  for (size_t k = 0; k < n; ++k) keys[k] = make(k);
  std::sort(keys.begin(), keys.end());
  std::vector<int64_t> order(n);
  for (size_t k = 0; k < n; ++k) order[k] = keys[k].index;
  return order;
}

struct PackedKey {  // 16 bytes
  uint64_t user_item;
  int64_t index;
  bool operator<(const PackedKey& o) const {
    return user_item != o.user_item ? user_item < o.user_item : index < o.index;
  }
};

struct PackedTimeKey {  // 24 bytes
  uint64_t user_item;
  int64_t time, index;
  bool operator<(const PackedTimeKey& o) const {
    if (user_item != o.user_item) return user_item < o.user_item;
    return time != o.time ? time < o.time : index < o.index;
  }
};

struct WideKey {  // 32 bytes, for ids beyond 32 bits
  int64_t user, item, time, index;
  bool operator<(const WideKey& o) const {
    if (user != o.user) return user < o.user;
    if (item != o.item) return item < o.item;
    return time != o.time ? time < o.time : index < o.index;
  }
};

}  // namespace

bool Interactions::is_sorted() const {
  for (size_t k = 1; k < size(); ++k) {
    if (user[k] != user[k - 1]) {
      if (user[k] < user[k - 1]) return false;
    } else if (item[k] != item[k - 1]) {
      if (item[k] < item[k - 1]) return false;
    } else if (has_time && time[k] < time[k - 1]) {
      return false;
    }
  }
  return true;
}

void Interactions::sort() {
  // Prepare sorts the same tables several times: most calls find them sorted.
  if (is_sorted()) return;
  const size_t n = size();
  auto ui = [&](size_t k) {
    return (static_cast<uint64_t>(user[k]) << 32) | static_cast<uint64_t>(item[k]);
  };
  const auto idx = [](size_t k) { return static_cast<int64_t>(k); };
  std::vector<int64_t> order;
  if (!packable(user, item)) {
    order = sorted_order<WideKey>(n, [&](size_t k) {
      return WideKey{user[k], item[k], has_time ? time[k] : 0, idx(k)};
    });
  } else if (has_time) {
    order = sorted_order<PackedTimeKey>(n, [&](size_t k) {
      return PackedTimeKey{ui(k), time[k], idx(k)};
    });
  } else {
    order = sorted_order<PackedKey>(n, [&](size_t k) { return PackedKey{ui(k), idx(k)}; });
  }
  permute(user, order);
  permute(item, order);
  permute(weight, order);
  if (has_time) permute(time, order);
}

int64_t Interactions::merge_duplicates(const std::function<std::string(int64_t, int64_t)>& name) {
  sort();
  size_t out = 0;
  for (size_t k = 0; k < size(); ++k) {
    if (out > 0 && user[out - 1] == user[k] && item[out - 1] == item[k]) {
      const double sum = static_cast<double>(weight[out - 1]) + weight[k];
      if (!(sum <= std::numeric_limits<float>::max())) {
        HR_THROW(InputError, "the records of {} weigh {:.4g} together, more than a weight holds "
                 "(at most {:.4g}): lower --behavior-weights", name ? name(user[k], item[k])
                 : fmt::format("user {} and item {}", user[k], item[k]), sum,
                 std::numeric_limits<float>::max());
      }
      weight[out - 1] = static_cast<float>(sum);
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
    case DropReason::kNonpositiveWeight: return "nonpositive_weight";
    default: return "?";
  }
}

int64_t DropCounts::total() const { return std::accumulate(n.begin(), n.end(), int64_t{0}); }

DropCounts& DropCounts::operator+=(const DropCounts& o) {
  for (size_t k = 0; k < n.size(); ++k) n[k] += o.n[k];
  return *this;
}

bool Interactions::contains(int64_t u, int64_t i) const {
  const auto lo = std::lower_bound(user.begin(), user.end(), u);
  const auto hi = std::upper_bound(lo, user.end(), u);
  const auto b = item.begin() + (lo - user.begin());
  const auto e = item.begin() + (hi - user.begin());
  return std::binary_search(b, e, i);
}

}  // namespace halorec::data

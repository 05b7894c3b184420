#pragma once
// Columnar user-item interactions, and the drop reasons every removed record
// is counted under (nothing is lost silently).

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string>
#include <vector>

namespace halorec::data {

struct Interactions {
  std::vector<int64_t> user;
  std::vector<int64_t> item;
  std::vector<float> weight;
  std::vector<int64_t> time;  // empty when the source has no time column
  bool has_time = false;

  size_t size() const { return user.size(); }
  void push(int64_t u, int64_t i, float w, int64_t t = 0) {
    user.push_back(u);
    item.push_back(i);
    weight.push_back(w);
    if (has_time) time.push_back(t);
  }
  void reserve(size_t n);
  // Keeps the records whose flag is set, in order.
  void keep(const std::vector<bool>& flags);
  // Replaces ids through old->new maps; records mapped to -1 must have been removed.
  void remap(const std::vector<int64_t>& users, const std::vector<int64_t>& items);
  // Sorts by (user, item, time), stably.
  void sort();
  bool is_sorted() const;
  // Whether (u, i) is a record; the records must be sorted (sort()).
  bool contains(int64_t u, int64_t i) const;
  // Sorts, then merges repeated (user, item) pairs: weights summed, latest time
  // kept. Returns how many records were merged away. A sum a float cannot
  // hold is an InputError naming the pair (`name` describes a user and item
  // for it; without it, their dense ids).
  int64_t merge_duplicates(const std::function<std::string(int64_t, int64_t)>& name = {});
};

enum class DropReason {
  kMalformed,
  kDuplicate,
  kBelowRating,
  kUnweightedBehavior,
  kKcore,
  kUnknownIdInTest,
  kIdNotInTrain,
  kTestInTrain,
  kNonpositiveWeight,  // --weight-col value <= 0
  kCount
};
const char* drop_reason_name(DropReason r);

struct DropCounts {
  std::array<int64_t, static_cast<size_t>(DropReason::kCount)> n{};
  int64_t& operator[](DropReason r) { return n[static_cast<size_t>(r)]; }
  int64_t operator[](DropReason r) const { return n[static_cast<size_t>(r)]; }
  int64_t total() const;
  DropCounts& operator+=(const DropCounts& o);
};

}  // namespace halorec::data

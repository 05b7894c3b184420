#pragma once
// The one counting sort behind every CSR HaloRec builds (the interaction
// graph, its transpose, users' seen items, the baselines' item lists): a
// first pass counts each record's key, offsets() are then the CSR row
// pointers (num_keys + 1), and a second pass over the same records in the
// same order gives each one its slot. Stable: records of one key keep the
// order of the second pass.
//
//   CountingSort by_user(num_users);
//   for (int64_t u : user) by_user.count(u);
//   by_user.finish_counts();
//   for (size_t k = 0; k < user.size(); ++k) items[by_user.place(user[k])] = item[k];

#include <cstdint>
#include <utility>
#include <vector>

namespace halorec {

class CountingSort {
 public:
  explicit CountingSort(int64_t num_keys) : offsets_(static_cast<size_t>(num_keys) + 1, 0) {}

  void count(int64_t key) { ++offsets_[static_cast<size_t>(key) + 1]; }
  // After every count: offsets() are final and place() may be called.
  void finish_counts() {
    for (size_t k = 1; k < offsets_.size(); ++k) offsets_[k] += offsets_[k - 1];
    next_.assign(offsets_.begin(), offsets_.end() - 1);
  }
  // The slot of the next record of `key`.
  int64_t place(int64_t key) { return next_[static_cast<size_t>(key)]++; }
  // Where the records of `key` placed so far end.
  int64_t placed_end(int64_t key) const { return next_[static_cast<size_t>(key)]; }

  const std::vector<int64_t>& offsets() const { return offsets_; }
  int64_t records() const { return offsets_.back(); }
  std::vector<int64_t> take_offsets() { return std::move(offsets_); }

 private:
  std::vector<int64_t> offsets_;
  std::vector<int64_t> next_;
};

}  // namespace halorec

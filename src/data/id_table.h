#pragma once
// Maps original ids (any string) to dense ids. Ids are first numbered in order
// of appearance; finalize() then renumbers the ids still in use in a canonical
// order (numeric when every id is an integer, else byte-wise), so the dense ids
// do not depend on the order of lines in the input.

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace halorec::data {

class IdTable {
 public:
  static constexpr int64_t kMissing = -1;

  // The id of `key`, adding it when new.
  int64_t intern(std::string_view key);
  // The id of `key`, or kMissing.
  int64_t find(std::string_view key) const;
  int64_t size() const { return static_cast<int64_t>(keys_.size()); }
  const std::string& key(int64_t id) const { return keys_[static_cast<size_t>(id)]; }

  // Given which ids are in use, returns old id -> new id (kMissing for unused
  // ones) and the original ids in the new order.
  std::vector<int64_t> finalize(const std::vector<bool>& used,
                                std::vector<std::string>* ordered_keys) const;

 private:
  // Open addressing with linear probing; a slot keeps the key's hash so most
  // probes compare one integer, not a string.
  struct Slot {
    uint64_t hash = 0;
    int64_t id = kMissing;
  };
  size_t slot_of(std::string_view key, uint64_t hash) const;
  void grow();

  std::deque<std::string> keys_;  // deque: appending never moves existing keys
  std::vector<Slot> slots_ = std::vector<Slot>(1024);
};

// Why `id` cannot be an original id, or "" when it can: control bytes but the
// tab (a NUL truncates an id in HDF5, others corrupt terminals and logs) and
// ids over 4096 bytes are refused.
std::string id_problem(std::string_view id);

// Strict decimal integer (optional '-', digits only, fits int64).
bool parse_int64(std::string_view s, int64_t* out);

}  // namespace halorec::data

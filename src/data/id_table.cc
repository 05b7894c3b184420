#include "data/id_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <numeric>

namespace halorec::data {

std::string id_problem(std::string_view id) {
  if (id.size() > 4096) return fmt::format("is {} bytes long (at most 4096)", id.size());
  for (size_t k = 0; k < id.size(); ++k) {
    const auto c = static_cast<unsigned char>(id[k]);
    if (c == 0) return fmt::format("holds a NUL byte at byte {}", k + 1);
    // A tab is kept (a quoted CSV field may hold one; TSV output escapes it).
    if ((c < 0x20 && c != '\t') || c == 0x7f) return fmt::format("holds the control byte 0x{:02x} at byte {}", c, k + 1);
  }
  return "";
}

bool parse_int64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

namespace {
uint64_t hash_of(std::string_view key) {
  // FNV-1a, then a final mix so that the low bits (the slot) are well spread.
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : key) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  return h ^ (h >> 33);
}
}  // namespace

size_t IdTable::slot_of(std::string_view key, uint64_t hash) const {
  const size_t mask = slots_.size() - 1;
  size_t k = static_cast<size_t>(hash) & mask;
  while (slots_[k].id != kMissing &&
         (slots_[k].hash != hash || keys_[static_cast<size_t>(slots_[k].id)] != key)) {
    k = (k + 1) & mask;
  }
  return k;
}

void IdTable::grow() {
  std::vector<Slot> old(slots_.size() * 2);
  old.swap(slots_);
  const size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.id == kMissing) continue;
    size_t k = static_cast<size_t>(s.hash) & mask;
    while (slots_[k].id != kMissing) k = (k + 1) & mask;
    slots_[k] = s;
  }
}

int64_t IdTable::intern(std::string_view key) {
  const uint64_t h = hash_of(key);
  size_t k = slot_of(key, h);
  if (slots_[k].id != kMissing) return slots_[k].id;
  const int64_t id = size();
  keys_.emplace_back(key);
  slots_[k] = Slot{h, id};
  if (static_cast<size_t>(size()) * 2 > slots_.size()) grow();
  return id;
}

int64_t IdTable::find(std::string_view key) const {
  return slots_[slot_of(key, hash_of(key))].id;
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

#include "data/cleaning.h"

namespace halorec::data {

int64_t kcore_filter(Interactions* records, int64_t num_users, int64_t num_items, int64_t k) {
  if (k <= 1) return 0;
  int64_t dropped = 0;
  while (true) {
    std::vector<int64_t> user_deg(static_cast<size_t>(num_users), 0);
    std::vector<int64_t> item_deg(static_cast<size_t>(num_items), 0);
    for (size_t r = 0; r < records->size(); ++r) {
      ++user_deg[static_cast<size_t>(records->user[r])];
      ++item_deg[static_cast<size_t>(records->item[r])];
    }
    std::vector<bool> keep(records->size());
    int64_t removed = 0;
    for (size_t r = 0; r < records->size(); ++r) {
      keep[r] = user_deg[static_cast<size_t>(records->user[r])] >= k &&
                item_deg[static_cast<size_t>(records->item[r])] >= k;
      removed += keep[r] ? 0 : 1;
    }
    if (removed == 0) return dropped;
    records->keep(keep);
    dropped += removed;
  }
}

std::vector<bool> used_ids(const std::vector<int64_t>& ids, int64_t n) {
  std::vector<bool> used(static_cast<size_t>(n), false);
  for (int64_t id : ids) used[static_cast<size_t>(id)] = true;
  return used;
}

}  // namespace halorec::data

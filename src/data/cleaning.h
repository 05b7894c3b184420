#pragma once
// Dataset cleaning steps that work on whole interaction tables.

#include <cstdint>
#include <vector>

#include "data/interactions.h"

namespace halorec::data {

// Repeatedly drops the records of users and items with fewer than k records
// until every remaining user and item has at least k. Returns the number of
// records dropped. k <= 1 does nothing.
int64_t kcore_filter(Interactions* records, int64_t num_users, int64_t num_items, int64_t k);

// Flags of the ids that occur in `ids` (size n).
std::vector<bool> used_ids(const std::vector<int64_t>& ids, int64_t n);

}  // namespace halorec::data

#pragma once
// Builds every rank's shard (owned rows, halo, exchange plans, interactions)
// from the global graph and the owner of each node.

#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "graph/csr.h"
#include "partition/shard.h"

namespace halorec::partition {

std::vector<Shard> build_shards(const data::Dataset& d, const graph::Csr& graph,
                                const std::vector<int32_t>& owner, int32_t parts);

}  // namespace halorec::partition

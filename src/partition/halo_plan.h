#pragma once
// Builds every rank's shard (owned rows, halo, exchange plans, interactions)
// from the global graph and the owner of each node.

#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "graph/csr.h"
#include "partition/shard.h"

namespace halorec::partition {

// `validation` (optional): records carved from d.train, which the shards
// of their users hold apart (Shard::validation).
std::vector<Shard> build_shards(const data::Dataset& d, const graph::Csr& graph,
                                const std::vector<int32_t>& owner, int32_t parts,
                                const data::Interactions* validation = nullptr);

}  // namespace halorec::partition

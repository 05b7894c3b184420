#pragma once
// Balance and communication statistics of a partition.

#include <cstdint>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "graph/csr.h"
#include "partition/shard.h"

namespace halorec::partition {

struct PartitionStats {
  std::vector<int64_t> nodes;  // owned nodes per rank
  std::vector<int64_t> users;  // owned users per rank
  std::vector<int64_t> edges;  // adjacency entries (directed edges) per rank
  std::vector<int64_t> halo;   // halo rows per rank
  double node_imbalance = 0;   // max / mean
  double edge_imbalance = 0;
  int64_t edge_cut = 0;        // undirected edges between ranks
  int64_t halo_volume_total = 0;
  int64_t halo_max = 0;
  int64_t exchange_bytes_dim64 = 0;  // bytes one layer's exchange moves at dim 64, fp32
  double seconds = 0;
  int64_t peak_rss_bytes = 0;

  nlohmann::json to_json() const;
};

PartitionStats compute_stats(const graph::Csr& graph, const std::vector<int32_t>& owner,
                             const std::vector<Shard>& shards);

}  // namespace halorec::partition

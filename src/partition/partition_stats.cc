#include "partition/partition_stats.h"

#include <algorithm>
#include <numeric>

#include <nlohmann/json.hpp>

namespace halorec::partition {

namespace {
double imbalance(const std::vector<int64_t>& v) {
  const double total = static_cast<double>(std::accumulate(v.begin(), v.end(), int64_t{0}));
  if (total == 0) return 1.0;
  return static_cast<double>(*std::max_element(v.begin(), v.end())) /
         (total / static_cast<double>(v.size()));
}
}  // namespace

nlohmann::json PartitionStats::to_json() const {
  return {{"nodes", nodes},
          {"users", users},
          {"edges", edges},
          {"halo", halo},
          {"node_imbalance", node_imbalance},
          {"edge_imbalance", edge_imbalance},
          {"edge_cut", edge_cut},
          {"halo_volume_total", halo_volume_total},
          {"halo_max", halo_max},
          {"exchange_bytes_dim64", exchange_bytes_dim64},
          {"seconds", seconds},
          {"peak_rss_bytes", peak_rss_bytes}};
}

PartitionStats compute_stats(const graph::Csr& g, const std::vector<int32_t>& owner,
                             const std::vector<Shard>& shards) {
  PartitionStats s;
  for (const Shard& sh : shards) {
    s.nodes.push_back(sh.num_owned());
    s.users.push_back(std::count_if(sh.owned.begin(), sh.owned.end(),
                                    [&](int64_t v) { return v < sh.num_users; }));
    s.edges.push_back(sh.nnz());
    s.halo.push_back(sh.num_halo());
  }
  s.node_imbalance = imbalance(s.nodes);
  s.edge_imbalance = imbalance(s.edges);
  s.halo_volume_total = std::accumulate(s.halo.begin(), s.halo.end(), int64_t{0});
  s.halo_max = s.halo.empty() ? 0 : *std::max_element(s.halo.begin(), s.halo.end());
  s.exchange_bytes_dim64 = s.halo_volume_total * 64 * static_cast<int64_t>(sizeof(float));
  for (int64_t v = 0; v < g.num_rows; ++v) {
    for (int64_t e = g.indptr[v]; e < g.indptr[v + 1]; ++e) {
      const int64_t w = g.col[static_cast<size_t>(e)];
      if (v < w && owner[static_cast<size_t>(v)] != owner[static_cast<size_t>(w)]) ++s.edge_cut;
    }
  }
  return s;
}

}  // namespace halorec::partition

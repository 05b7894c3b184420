#pragma once
// `halorec partition`: dataset.h5 -> parts/ (meta.h5 + one shard per rank).

#include <cstdint>
#include <string>

#include "data/social.h"
#include "partition/partition_stats.h"
#include "partition/partitioner.h"

namespace halorec::partition {

struct PartitionOptions {
  std::string dataset;
  int32_t parts = 1;
  Method method = Method::kMetis;
  uint64_t seed = 2020;
  double max_imbalance = 1.08;  // metis: max/mean of nodes and of edges per rank
  // Carve this fraction of each user's train records into a validation split
  // (0: none), draws keyed by validation_seed: the graph keeps the rest.
  double validation = 0;
  uint64_t validation_seed = 2020;
  // Social edges (data.social): a file of user-user pairs joining the graph
  // as their own relation, at this weight (data.social_weight; graph/csr.h).
  std::string social;
  double social_weight = data::kDefaultSocialWeight;
  std::string out;
  std::string out_option = "--out";  // names `out` in messages (train: data.parts)
  bool force = false;                // replace an existing partition folder (never another folder)
};

struct PartitionResult {
  std::string out;
  std::string method;
  int32_t parts = 0;
  std::string fingerprint;
  int64_t num_validation = 0;  // records carved into the validation split
  int64_t num_social = 0;      // undirected social edges in the graph
  PartitionStats stats;
};

PartitionResult run_partition(const PartitionOptions& options);

}  // namespace halorec::partition

#pragma once
// The partition folder (docs/formats.md): meta.h5 and one rank-NNNNN.h5 per
// rank. Written into a temporary folder and renamed when complete.

#include <cstdint>
#include <string>
#include <vector>

#include "partition/shard.h"

namespace halorec::partition {

inline constexpr const char* kPartitionFormat = "halorec.partition";
inline constexpr const char* kShardFormat = "halorec.shard";
inline constexpr int64_t kPartitionFormatVersion = 1;

struct PartitionMeta {
  int32_t num_parts = 1;
  std::string method;
  uint64_t seed = 0;
  std::string dataset_path;
  std::string dataset_fingerprint;
  std::string fingerprint;  // of this partition: dataset fingerprint, method, owners
  int64_t num_users = 0;
  int64_t num_items = 0;
  int64_t num_edges = 0;             // undirected train edges
  // The per-user validation carve from the dataset's train side (0: none):
  // the fraction of each user's train records (data.validation) and the
  // seed its draws are keyed by (data.validation_seed).
  double validation = 0;
  uint64_t validation_seed = 0;
  int64_t num_validation = 0;
  // Social edges (data.social) in the graph: the file, its data::social_graph_id
  // (the file's bytes and the relation's weight) and the undirected user-user
  // edges kept ("" and 0: none).
  std::string social_path;
  std::string social_fingerprint;
  int64_t num_social = 0;
  std::vector<int32_t> owner;        // owner rank of every global node id
  std::string stats_json;
};

std::string shard_file_name(int32_t rank);  // "rank-00003.h5"

void write_meta(const std::string& dir, const PartitionMeta& meta);
void write_shard(const std::string& dir, const Shard& shard, const PartitionMeta& meta);

// Reads meta.h5; with `with_owner` false the owner array is skipped.
PartitionMeta read_meta(const std::string& dir, bool with_owner = true);
// Reads one rank's shard and checks it against the metadata (format, rank,
// number of parts, fingerprints).
Shard read_shard(const std::string& dir, int32_t rank, const PartitionMeta& meta);

// Throws InputError when the partition in `dir` was not made from the dataset
// with `dataset_fingerprint` (a stale partition), naming both.
void check_partition_matches(const PartitionMeta& meta, const std::string& dir,
                             const std::string& dataset_path,
                             const std::string& dataset_fingerprint);

}  // namespace halorec::partition

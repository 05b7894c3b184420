#pragma once
// BPR triples that do not depend on the number of ranks or the partitioner:
// triple k of epoch e is a pure function of (seed, e, k); global step s covers
// triples [s B, (s+1) B); each rank keeps those whose user it owns.
//   uniform: |train| triples per epoch; triple k's user is drawn uniformly
//            among users with train items, its positive uniformly among the
//            user's items (the LightGCN reference's sampler).
//   edge:    triple k is train interaction perm_e(k), a keyed permutation of
//            all interactions: each interaction once per epoch.
// Negatives are uniform over items the user has not interacted with in train.

#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "partition/shard.h"

namespace halorec::train {

enum class SamplerKind { kUniform, kEdge };

// train.sampler's value ("uniform", "edge"); ConfigError otherwise.
SamplerKind parse_sampler(const std::string& s);

struct Triples {
  std::vector<int64_t> user;  // global user id (owned by this rank)
  std::vector<int64_t> pos;   // item id 0..I-1
  std::vector<int64_t> neg;   // item id 0..I-1
  int64_t global_count = 0;   // triples in this step over all ranks
};

class Sampler {
 public:
  // Collective (exchanges per-user degrees once).
  Sampler(SamplerKind kind, uint64_t seed, int64_t batch_size, const partition::Shard& shard,
          const std::vector<int32_t>& owner, comm::Communicator& comm);
  int64_t steps_per_epoch() const { return (per_epoch_ + batch_ - 1) / batch_; }
  int64_t triples_per_epoch() const { return per_epoch_; }
  // This rank's triples of step `step` (0-based within the epoch) of `epoch`.
  Triples sample(int64_t epoch, int64_t step) const;

 private:
  // The global (user, offset among the user's items) of triple k.
  void triple_source(int64_t epoch, int64_t k, int64_t* user, int64_t* offset) const;
  int64_t permute(int64_t epoch, int64_t k) const;

  SamplerKind kind_;
  uint64_t seed_;
  int64_t batch_;
  int64_t per_epoch_ = 0;
  int64_t num_items_;
  const std::vector<int32_t>& owner_;
  int rank_;
  std::vector<int64_t> active_users_;  // global ids of users with train items (uniform)
  std::vector<int64_t> global_indptr_;  // edge: train interactions of user u in [p[u], p[u+1])
  // This rank's users' train items: user_begin_[k] .. for local_users_[k].
  std::vector<int64_t> local_users_;
  std::vector<int64_t> local_begin_;
  const std::vector<int64_t>& items_;
};

}  // namespace halorec::train

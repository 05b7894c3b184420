#include "train/sampler.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/check.h"
#include "core/counter_rng.h"

namespace halorec::train {

SamplerKind parse_sampler(const std::string& s) {
  if (s == "uniform") return SamplerKind::kUniform;
  if (s == "edge") return SamplerKind::kEdge;
  HR_THROW(ConfigError, "train.sampler: '{}' is not uniform or edge", s);
}

Sampler::Sampler(SamplerKind kind, uint64_t seed, int64_t batch_size,
                 const partition::Shard& shard, const std::vector<int32_t>& owner,
                 comm::Communicator& comm)
    : kind_(kind),
      seed_(seed),
      batch_(batch_size),
      num_items_(shard.num_items),
      owner_(owner),
      rank_(comm.rank()),
      items_(shard.train.item) {
  const auto& users = shard.train.user;
  for (size_t r = 0; r < users.size(); ++r) {
    if (r == 0 || users[r] != users[r - 1]) {
      local_users_.push_back(users[r]);
      local_begin_.push_back(static_cast<int64_t>(r));
    }
  }
  local_begin_.push_back(static_cast<int64_t>(users.size()));
  // Global degrees: each rank fills its own users.
  at::Tensor degree = at::zeros({shard.num_users}, at::kLong);
  int64_t* deg = degree.data_ptr<int64_t>();
  for (size_t k = 0; k + 1 < local_begin_.size(); ++k) {
    deg[local_users_[k]] = local_begin_[k + 1] - local_begin_[k];
  }
  degree = degree.to(comm.device());
  comm.all_reduce(degree, comm::ReduceOp::kSum);
  degree = degree.cpu();
  deg = degree.data_ptr<int64_t>();
  global_indptr_.assign(static_cast<size_t>(shard.num_users) + 1, 0);
  for (int64_t u = 0; u < shard.num_users; ++u) {
    global_indptr_[u + 1] = global_indptr_[u] + deg[u];
    if (deg[u] > 0) active_users_.push_back(u);
  }
  per_epoch_ = global_indptr_.back();
}

// A keyed bijection on [0, n): a 4-round Feistel network over the smallest
// even power of two >= n, with cycle walking back into range.
int64_t Sampler::permute(int64_t epoch, int64_t k) const {
  int bits = 2;
  while ((int64_t{1} << bits) < per_epoch_) bits += 2;
  const int half = bits / 2;
  const uint64_t mask = (uint64_t{1} << half) - 1;
  const uint64_t key = hash_key(seed_, 0x4645u, static_cast<uint64_t>(epoch));
  uint64_t x = static_cast<uint64_t>(k);
  do {
    uint64_t left = x >> half, right = x & mask;
    for (uint64_t round = 0; round < 4; ++round) {
      const uint64_t f = hash_key(key, round, right) & mask;
      const uint64_t next = left ^ f;
      left = right;
      right = next;
    }
    x = (left << half) | right;
  } while (x >= static_cast<uint64_t>(per_epoch_));
  return static_cast<int64_t>(x);
}

void Sampler::triple_source(int64_t epoch, int64_t k, int64_t* user, int64_t* offset) const {
  if (kind_ == SamplerKind::kUniform) {
    CounterRng rng(hash_key(seed_, static_cast<uint64_t>(epoch), static_cast<uint64_t>(k)));
    *user = active_users_[rng.below(active_users_.size())];
    const int64_t deg = global_indptr_[*user + 1] - global_indptr_[*user];
    *offset = static_cast<int64_t>(rng.below(static_cast<uint64_t>(deg)));
    return;
  }
  const int64_t edge = permute(epoch, k);
  const auto it = std::upper_bound(global_indptr_.begin(), global_indptr_.end(), edge);
  *user = (it - global_indptr_.begin()) - 1;
  *offset = edge - global_indptr_[*user];
}

Triples Sampler::sample(int64_t epoch, int64_t step) const {
  Triples t;
  const int64_t begin = step * batch_;
  const int64_t end = std::min(per_epoch_, begin + batch_);
  t.global_count = std::max<int64_t>(0, end - begin);
  for (int64_t k = begin; k < end; ++k) {
    int64_t user = 0, offset = 0;
    triple_source(epoch, k, &user, &offset);
    if (owner_[static_cast<size_t>(user)] != rank_) continue;
    const size_t lu = static_cast<size_t>(
        std::lower_bound(local_users_.begin(), local_users_.end(), user) - local_users_.begin());
    HR_CHECK(lu < local_users_.size() && local_users_[lu] == user, "user {} not local", user);
    const auto first = items_.begin() + local_begin_[lu];
    const auto last = items_.begin() + local_begin_[lu + 1];
    if (last - first >= num_items_) continue;  // the user has every item: no negative exists
    CounterRng rng(hash_key(seed_, 0x4e45u, hash_key(static_cast<uint64_t>(epoch),
                                                      static_cast<uint64_t>(k))));
    int64_t neg = 0;
    do {
      neg = static_cast<int64_t>(rng.below(static_cast<uint64_t>(num_items_)));
    } while (std::binary_search(first, last, neg));
    t.user.push_back(user);
    t.pos.push_back(*(first + offset));
    t.neg.push_back(neg);
  }
  return t;
}

}  // namespace halorec::train

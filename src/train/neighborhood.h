#pragma once
// train.propagation minibatch: a step's sampled L-hop neighbourhood.
//
// For the step's targets T (its users and items, global node ids), the node
// sets S_L = T, S_{l-1} = S_l + the layer-l neighbours sampled for every node
// of S_l, each set a prefix of the next, so h^(l) on S_l is
//   h^(l)[S_l] = B_l h^(l-1)[S_{l-1}]
// with one small CSR block B_l per layer, and the final vectors of T are the
// first |T| rows of every layer. Layer 0 is gathered from the owners.
//
// Sampling: the neighbours node v uses for layer l at global step s are a pure
// function of (seed, s, l, v): all of them when its degree is at most the
// fanout of that hop (exact), else `fanout` distinct ones drawn uniformly,
// their normalized weights scaled by degree / fanout, so each sampled layer
// is an unbiased estimate of the exact one. The neighbour lists come from the
// rows' owners (one request and one reply per layer, all-to-all) and each
// row's terms are summed in global-id order, so the forward values do not
// depend on the partition or the rank count.

#include <cstdint>
#include <vector>

#include "comm/communicator.h"
#include "model/local_graph.h"
#include "partition/shard.h"

namespace halorec::train {

class NeighborSampler {
 public:
  // `fanouts`: per hop from the targets outward (hop 1 first); one entry
  // stands for every hop; empty or 0: all neighbours. `owner` is indexed by
  // global node id and must outlive the sampler.
  NeighborSampler(const partition::Shard& shard, const std::vector<int32_t>& owner, int64_t layers,
                  const std::vector<int64_t>& fanouts, uint64_t seed, comm::Communicator& comm);

  // Collective: every rank calls it every step (with no targets, too).
  // `targets` are distinct global node ids.
  model::Blocks sample(const std::vector<int64_t>& targets, int64_t step) const;

  int64_t fanout_of_layer(int64_t layer) const;  // 0: all neighbours

 private:
  // Owner side: appends the layer's sampled neighbours of owned row `row`.
  void sample_row(int64_t row, int64_t layer, int64_t step, std::vector<int64_t>* cols,
                  std::vector<float>* vals) const;

  // Owned rows of the normalized adjacency, columns as global ids, ascending.
  std::vector<int64_t> indptr_;
  std::vector<int64_t> col_;
  std::vector<float> val_;
  std::vector<int64_t> owned_;
  const std::vector<int32_t>& owner_;
  int64_t layers_;
  std::vector<int64_t> fanouts_;
  uint64_t seed_;
  comm::Communicator& comm_;
  // Scratch: position of a global id in the set being built, -1 when absent
  // (4 bytes per node of the graph, reset after every step).
  mutable std::vector<int32_t> position_;
};

}  // namespace halorec::train

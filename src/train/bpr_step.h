#pragma once
// One training step's loss: propagate, fetch the batch items' final and
// layer-0 vectors from their owners, BPR + L2 normalized by the global batch
// size. Collective; every rank calls it every step, with or without triples.

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "comm/communicator.h"
#include "comm/exchange_plan.h"
#include "model/model.h"
#include "train/neighborhood.h"
#include "train/sampler.h"

namespace halorec::train {

struct BprInputs {
  model::Model* net;
  at::Tensor e0;         // owned layer-0 vectors (requires grad)
  at::Tensor owned_ids;  // int64, ascending, on the device
  at::Tensor owner;      // int32 owner of every global node, on the device
  int64_t num_users;
  double weight_decay;
  comm::Communicator* comm;
  bool cosine = false;  // model.score cosine: scores of unit vectors
  // train.propagation minibatch: the step's neighbourhoods come from here;
  // null: full-graph propagation.
  const NeighborSampler* neighbors = nullptr;
};

// What both losses start from: the final and layer-0 vectors of the batch's
// users (t.user, in order) and of `items` (global item ids 0..I-1, in order).
// Full propagation: the whole shard is propagated, the items' rows fetched
// from their owners through one gather plan. Minibatch: the users' and items'
// sampled neighbourhood (train/neighborhood.h) is propagated here from its
// layer-0 rows, gathered from their owners. Collective. Keep the result until
// backward has run: the backward of the gathers and of the sampled blocks
// uses the plans and blocks it holds. Add `anchor` (a zero) to the loss: it
// makes every exchange output take part in backward on every rank.
struct GatheredBatch {
  std::shared_ptr<const comm::GatherPlan> plan;
  std::shared_ptr<const model::Blocks> blocks;
  at::Tensor user_final;
  at::Tensor user_e0;
  at::Tensor item_final;
  at::Tensor item_e0;
  at::Tensor anchor;
  // Minibatch without content fusion: the owned layer-0 rows this rank sends
  // (distinct local rows) as their own leaf, so backward fills [rows, d]
  // instead of a gradient over every owned row.
  at::Tensor rows;
  at::Tensor leaf;
  int64_t sampled_nodes = 0;  // minibatch: |S_0| of this rank's neighbourhood
  int64_t sampled_edges = 0;  // minibatch: nonzeros of its blocks
};
GatheredBatch gather_batch(const BprInputs& in, const Triples& t, const std::vector<int64_t>& items,
                           int64_t global_step);

// What a step's forward and backward leave: this rank's share of the global
// loss (the shares add up to the global loss) and, where the step's gradient
// of the layer-0 rows is row-sparse (gather_batch's `rows`), those rows and
// their gradient; e0.grad() is then left undefined.
struct StepResult {
  double loss = 0;
  at::Tensor rows;            // int64 distinct local rows; undefined: e0.grad() holds the gradient
  at::Tensor grad;            // [rows, d]
  int64_t sampled_nodes = 0;  // minibatch: |S_0| of this rank's neighbourhood
  int64_t sampled_edges = 0;  // minibatch: nonzeros of its blocks
};
StepResult finish_step(const GatheredBatch& g, const at::Tensor& loss);

// Runs forward and backward for this rank's triples.
StepResult bpr_forward_backward(const BprInputs& in, const Triples& t, int64_t global_step);

// Sums the replicated parameters' gradients over ranks, then gives every rank
// rank 0's result (an all-reduce alone may differ in the last bits).
void reduce_dense_grads(const std::vector<at::Tensor>& params, comm::Communicator& comm);

}  // namespace halorec::train

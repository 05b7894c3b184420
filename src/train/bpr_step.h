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
};

// What both losses start from: the propagated owned rows, and the final and
// layer-0 vectors of `items` (global item ids 0..I-1, in order) fetched from
// their owners through one gather plan, plus the local rows of the batch's
// users. Collective. Keep the result until backward has run: the gathers'
// backward uses its plan.
struct GatheredBatch {
  std::shared_ptr<const comm::GatherPlan> plan;
  at::Tensor final_owned;
  at::Tensor item_final;
  at::Tensor item_e0;
  at::Tensor user_rows;
};
GatheredBatch gather_batch(const BprInputs& in, const Triples& t, const std::vector<int64_t>& items,
                           int64_t global_step);

// Runs forward and backward for this rank's triples; returns this rank's
// share of the global loss (the shares add up to the global loss).
double bpr_forward_backward(const BprInputs& in, const Triples& t, int64_t global_step);

// Sums the replicated parameters' gradients over ranks, then gives every rank
// rank 0's result (an all-reduce alone may differ in the last bits).
void reduce_dense_grads(const std::vector<at::Tensor>& params, comm::Communicator& comm);

}  // namespace halorec::train

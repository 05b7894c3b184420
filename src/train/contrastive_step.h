#pragma once
// Losses over many negatives shared by the whole global batch (train.loss
// softmax | ccl, docs/config.md). A step draws train.negatives items that are
// the same on every rank (keyed by seed, epoch and step), fetches their
// vectors once through remote_gather, and scores the rank's users against
// all of them with one GEMM ([users, negatives]). Per triple (u, i+):
//   ccl:     (1 - s(u, i+)) + negative_weight * mean_j max(0, s(u, j) - margin)
//            (SimpleX's cosine contrastive loss)
//   softmax: -log softmax over [s(u, i+), s(u, j)...] / temperature
//            (sampled softmax / InfoNCE against uniform negatives); with
//            train.in_batch_negatives the global batch's positives (gathered
//            from every rank) are negatives too, each negative's logit is
//            corrected by -log E[j], E[j] = B q_j + n / I its expected count
//            in the step (B positives drawn with q_j, the item's share of the
//            train records; n uniform draws of I items), and a negative that
//            is the triple's own positive item is masked out
// where s is the cosine with model.score cosine, else the dot product. L2
// (train.weight_decay / 2) on the layer-0 rows of the batch's users and
// positives, and once (on rank 0) on the shared negatives. Everything is
// normalized by the global batch size, so the loss and gradients do not
// depend on the number of ranks or the partition.

#include <cstdint>
#include <string>
#include <vector>

#include "train/bpr_step.h"

namespace halorec::train {

enum class LossKind { kBpr, kSoftmax, kCcl };

// train.loss's value ("bpr", "softmax", "ccl"); ConfigError otherwise.
LossKind parse_loss(const std::string& s);

struct LossConfig {
  LossKind kind = LossKind::kBpr;
  int64_t negatives = 256;
  double margin = 0.9;           // ccl
  double negative_weight = 150;  // ccl
  double temperature = 0.1;      // softmax
  bool cosine = false;           // model.score cosine
  bool in_batch = false;         // softmax: the global batch's positives as negatives too
  // With in_batch: every item's share of the train records (float [I], sums
  // to 1), on the training device: item_shares() below.
  at::Tensor item_share;
};

// Each item's share of the train records over all ranks (float [num_items],
// on comm's device): one all-reduce. Collective.
at::Tensor item_shares(const std::vector<int64_t>& train_items, int64_t num_items,
                       comm::Communicator& comm);

// The step's shared negatives: `n` items drawn uniformly (with replacement)
// from [0, num_items), a pure function of (seed, epoch, step).
std::vector<int64_t> shared_negatives(uint64_t seed, int64_t epoch, int64_t step, int64_t n,
                                      int64_t num_items);

// Forward and backward of this rank's triples (their `neg` is not used) against
// `negatives`; returns this rank's share of the global loss. Collective.
StepResult contrastive_forward_backward(const BprInputs& in, const Triples& t,
                                    const std::vector<int64_t>& negatives, const LossConfig& loss,
                                    int64_t global_step);

}  // namespace halorec::train

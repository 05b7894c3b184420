#include "train/contrastive_step.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <limits>

#include "core/check.h"
#include "core/counter_rng.h"
#include "model/scoring.h"

namespace halorec::train {

LossKind parse_loss(const std::string& s) {
  if (s == "bpr") return LossKind::kBpr;
  if (s == "softmax") return LossKind::kSoftmax;
  if (s == "ccl") return LossKind::kCcl;
  HR_THROW(ConfigError, "train.loss: '{}' is not bpr, softmax or ccl", s);
}

std::vector<int64_t> shared_negatives(uint64_t seed, int64_t epoch, int64_t step, int64_t n,
                                      int64_t num_items) {
  HR_CHECK(num_items > 0 && n >= 0, "{} negatives of {} items", n, num_items);
  CounterRng rng(
      hash_key(seed, 0x5348u, hash_key(static_cast<uint64_t>(epoch), static_cast<uint64_t>(step))));
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t& item : out)
    item = static_cast<int64_t>(rng.below(static_cast<uint64_t>(num_items)));
  return out;
}

at::Tensor item_shares(const std::vector<int64_t>& train_items, int64_t num_items,
                       comm::Communicator& comm) {
  at::Tensor counts = at::zeros({num_items}, at::kDouble);
  double* c = counts.data_ptr<double>();
  for (int64_t i : train_items) c[i] += 1.0;
  counts = counts.to(comm.device());
  comm.all_reduce(counts, comm::ReduceOp::kSum);
  const double total = counts.sum().item<double>();
  return (counts / std::max(total, 1.0)).to(at::kFloat);
}

StepResult contrastive_forward_backward(const BprInputs& in, const Triples& t,
                                    const std::vector<int64_t>& negatives, const LossConfig& loss,
                                    int64_t global_step) {
  comm::Communicator& comm = *in.comm;
  const int64_t b = static_cast<int64_t>(t.user.size());
  const int64_t n = static_cast<int64_t>(negatives.size());
  const bool in_batch = loss.in_batch && loss.kind == LossKind::kSoftmax;
  // One plan for the positives and the shared negatives. In-batch: every
  // rank's positives in rank order (this rank's from `offset`), the same list
  // on every rank, so a positive of one rank is a negative of all.
  std::vector<int64_t> items;
  int64_t offset = 0;
  if (in_batch) {
    std::vector<int64_t> counts;
    const at::Tensor all =
        comm.all_gather_v(at::tensor(t.pos, at::kLong).to(comm.device()), &counts)
            .to(at::kCPU)
            .contiguous();
    items.assign(all.data_ptr<int64_t>(), all.data_ptr<int64_t>() + all.numel());
    for (int q = 0; q < comm.rank(); ++q) offset += counts[static_cast<size_t>(q)];
  } else {
    items = t.pos;
  }
  const int64_t B = static_cast<int64_t>(items.size());  // positives in the plan
  items.insert(items.end(), negatives.begin(), negatives.end());
  const GatheredBatch g = gather_batch(in, t, items, global_step);
  const at::Tensor& item_final = g.item_final;
  const at::Tensor& item_e0 = g.item_e0;
  const at::Tensor eu = model::scoring_vectors(g.user_final, loss.cosine);
  const at::Tensor ep = model::scoring_vectors(item_final.slice(0, offset, offset + b), loss.cosine);
  const at::Tensor en = model::scoring_vectors(item_final.slice(0, B, B + n), loss.cosine);
  const at::Tensor pos = (eu * ep).sum(1);    // [b]
  const at::Tensor neg = at::mm(eu, en.t());  // [b, n]: the step's GEMM
  at::Tensor per_triple;
  if (loss.kind == LossKind::kCcl) {
    per_triple = (1.0 - pos) + loss.negative_weight * at::relu(neg - loss.margin).mean(1);
  } else if (in_batch) {
    const auto dev = eu.device();
    const at::Tensor ids = at::tensor(items, at::kLong).to(dev);   // [B + n]
    const at::Tensor mine = at::tensor(t.pos, at::kLong).to(dev);  // [b]
    // Expected count of each candidate among the step's negatives.
    const at::Tensor expected =
        loss.item_share.index_select(0, ids) * static_cast<double>(B) +
        static_cast<double>(n) / static_cast<double>(loss.item_share.size(0));
    const at::Tensor eb = model::scoring_vectors(item_final.slice(0, 0, B), loss.cosine);
    const at::Tensor candidates = at::cat({at::mm(eu, eb.t()), neg}, 1);  // [b, B + n]
    const at::Tensor logits_neg =
        (candidates / loss.temperature - expected.log().unsqueeze(0))
            .masked_fill(mine.unsqueeze(1) == ids.unsqueeze(0),
                         -std::numeric_limits<float>::infinity());
    const at::Tensor logit_pos = pos / loss.temperature;
    const at::Tensor logits = at::cat({logit_pos.unsqueeze(1), logits_neg}, 1);
    per_triple = at::logsumexp(logits, {1}) - logit_pos;
  } else {
    const at::Tensor logits = at::cat({pos.unsqueeze(1), neg}, 1) / loss.temperature;
    per_triple = at::logsumexp(logits, {1}) - logits.select(1, 0);
  }
  // L2 on layer 0: the batch's users and positives here, the shared negatives
  // once over all ranks (rank 0), so the global loss does not depend on P.
  at::Tensor reg = g.user_e0.pow(2).sum() + item_e0.slice(0, offset, offset + b).pow(2).sum();
  const at::Tensor neg_reg = item_e0.slice(0, B, B + n).pow(2).sum();
  reg = comm.rank() == 0 ? reg + neg_reg : reg + 0.0 * neg_reg;
  const double norm = 1.0 / static_cast<double>(std::max<int64_t>(1, t.global_count));
  const at::Tensor total =
      (per_triple.sum() + in.weight_decay * reg / 2) * norm + 0.0 * item_final.sum() + g.anchor;
  // Every exchange output reaches the loss on every rank (row_exchange.h),
  // also when this rank has no triples in the step.
  return finish_step(g, total);
}

}  // namespace halorec::train

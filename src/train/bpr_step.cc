#include "train/bpr_step.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "comm/exchange_plan.h"
#include "comm/row_exchange.h"
#include "train/contrastive_step.h"

namespace halorec::train {

GatheredBatch gather_batch(const BprInputs& in, const Triples& t, const std::vector<int64_t>& items,
                           int64_t global_step) {
  comm::Communicator& comm = *in.comm;
  const at::Device device = in.e0.device();
  GatheredBatch g;
  g.final_owned = in.net->forward(in.e0, global_step, true);
  const at::Tensor batch_items = at::tensor(items, at::kLong).add_(in.num_users).to(device);
  g.plan = std::make_shared<const comm::GatherPlan>(
      comm::make_gather_plan(comm, batch_items, in.owner, in.owned_ids));
  g.item_final = comm::remote_gather(g.final_owned, *g.plan, comm);
  g.item_e0 = comm::remote_gather(in.e0, *g.plan, comm);
  g.user_rows = at::searchsorted(in.owned_ids, at::tensor(t.user, at::kLong).to(device));
  return g;
}

double bpr_forward_backward(const BprInputs& in, const Triples& t, int64_t global_step) {
  const int64_t b = static_cast<int64_t>(t.user.size());
  std::vector<int64_t> items(t.pos);
  items.insert(items.end(), t.neg.begin(), t.neg.end());
  const GatheredBatch g = gather_batch(in, t, items, global_step);
  const at::Tensor& final_owned = g.final_owned;
  const at::Tensor& item_final = g.item_final;
  const at::Tensor& item_e0 = g.item_e0;
  const at::Tensor& user_rows = g.user_rows;
  const at::Tensor eu = scoring_vectors(final_owned.index_select(0, user_rows), in.cosine);
  const at::Tensor ep = scoring_vectors(item_final.slice(0, 0, b), in.cosine);
  const at::Tensor en = scoring_vectors(item_final.slice(0, b, 2 * b), in.cosine);
  const at::Tensor bpr = at::softplus((eu * en).sum(1) - (eu * ep).sum(1)).sum();
  const at::Tensor reg = (in.e0.index_select(0, user_rows).pow(2).sum() + item_e0.pow(2).sum()) / 2;
  const double norm = 1.0 / static_cast<double>(std::max<int64_t>(1, t.global_count));
  const at::Tensor loss = (bpr + in.weight_decay * reg) * norm;
  // Every exchange output takes part in backward on every rank, as
  // row_exchange.h requires: final_owned, item_final and item_e0 all reach
  // the loss through index_select/slice nodes, which autograd keeps (and runs)
  // even when this rank's share of the batch is empty.
  loss.backward();
  return loss.item<double>();
}

void reduce_dense_grads(const std::vector<at::Tensor>& params, comm::Communicator& comm) {
  if (params.empty()) return;
  std::vector<at::Tensor> grads;
  for (const at::Tensor& p : params) {
    grads.push_back(p.grad().defined() ? p.grad().reshape({-1})
                                       : at::zeros({p.numel()}, p.options()));
  }
  at::Tensor flat = at::cat(grads).to(comm.device());
  comm.all_reduce(flat, comm::ReduceOp::kSum);
  comm.broadcast(flat, 0);
  int64_t off = 0;
  for (const at::Tensor& p : params) {
    at::Tensor g = flat.slice(0, off, off + p.numel()).view(p.sizes()).to(p.device());
    if (p.grad().defined()) {
      p.mutable_grad().copy_(g);
    } else {
      p.mutable_grad() = g.clone();
    }
    off += p.numel();
  }
}

}  // namespace halorec::train

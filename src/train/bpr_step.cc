#include "train/bpr_step.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <tuple>

#include "comm/exchange_plan.h"
#include "comm/row_exchange.h"
#include "model/scoring.h"

namespace halorec::train {

namespace {

GatheredBatch gather_full(const BprInputs& in, const Triples& t, const std::vector<int64_t>& items,
                          int64_t global_step) {
  comm::Communicator& comm = *in.comm;
  const at::Device device = in.e0.device();
  GatheredBatch g;
  const at::Tensor final_owned = in.net->forward(in.e0, global_step, true);
  const at::Tensor batch_items = at::tensor(items, at::kLong).add_(in.num_users).to(device);
  g.plan = std::make_shared<const comm::GatherPlan>(
      comm::make_gather_plan(comm, batch_items, in.owner, in.owned_ids));
  // The final and layer-0 rows of the batch's items in one exchange.
  std::tie(g.item_final, g.item_e0) = comm::remote_gather_pair(final_owned, in.e0, *g.plan, comm);
  const at::Tensor user_rows =
      at::searchsorted(in.owned_ids, at::tensor(t.user, at::kLong).to(device));
  // final_owned, item_final and item_e0 all reach the loss through
  // index_select/slice nodes, which autograd keeps (and runs) even when this
  // rank's share of the batch is empty.
  g.user_final = final_owned.index_select(0, user_rows);
  g.user_e0 = in.e0.index_select(0, user_rows);
  g.anchor = at::zeros({}, in.e0.options().requires_grad(false));
  return g;
}

GatheredBatch gather_minibatch(const BprInputs& in, const Triples& t,
                               const std::vector<int64_t>& items, int64_t global_step) {
  comm::Communicator& comm = *in.comm;
  const at::Device device = in.e0.device();
  GatheredBatch g;
  // The step's targets: its users and items, once each, ascending.
  std::vector<int64_t> targets(t.user);
  for (int64_t i : items) targets.push_back(i + in.num_users);
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  auto blocks = std::make_shared<model::Blocks>(in.neighbors->sample(targets, global_step));
  if (device.is_cuda()) {
    for (model::LocalGraph& b : blocks->graphs) {
      for (at::Tensor* x : {&b.indptr, &b.col, &b.val, &b.t_indptr, &b.t_col, &b.t_val}) {
        if (x->defined()) *x = x->to(device);
      }
    }
  }
  g.blocks = blocks;
  g.sampled_nodes = static_cast<int64_t>(blocks->nodes.size());
  g.sampled_edges = blocks->edges();
  const at::Tensor node_ids = at::tensor(blocks->nodes, at::kLong).to(device);
  g.plan = std::make_shared<const comm::GatherPlan>(
      comm::make_gather_plan(comm, node_ids, in.owner, in.owned_ids));
  // h0: layer 0 as propagation sees it; e0_all: the raw rows L2 covers.
  at::Tensor h0, e0_all;
  if (in.net->fuses_layer0()) {
    // The content fusion runs over every owned row (it needs their features).
    std::tie(h0, e0_all) = comm::remote_gather_pair(in.net->layer0(in.e0), in.e0, *g.plan, comm);
  } else {
    // Only the rows peers asked for take part: a leaf of those rows, and the
    // plan's send index remapped into it.
    auto [rows, remap, counts] = at::_unique2(g.plan->exchange.send_index, true, true, false);
    (void)counts;
    auto compact = std::make_shared<comm::GatherPlan>(*g.plan);
    compact->exchange.send_index = remap.reshape({-1});
    g.plan = compact;
    g.rows = rows;
    g.leaf = in.e0.detach().index_select(0, rows).requires_grad_(true);
    h0 = comm::remote_gather(g.leaf, *g.plan, comm);
    e0_all = h0;
  }
  const int64_t n = static_cast<int64_t>(targets.size());
  const at::Tensor final_targets = in.net->forward_blocks(h0, *blocks, node_ids, global_step, true);
  const at::Tensor e0_targets = e0_all.slice(0, 0, n);
  const at::Tensor sorted = at::tensor(targets, at::kLong).to(device);
  const at::Tensor user_at = at::searchsorted(sorted, at::tensor(t.user, at::kLong).to(device));
  const at::Tensor item_at =
      at::searchsorted(sorted, at::tensor(items, at::kLong).add_(in.num_users).to(device));
  g.user_final = final_targets.index_select(0, user_at);
  g.user_e0 = e0_targets.index_select(0, user_at);
  g.item_final = final_targets.index_select(0, item_at);
  g.item_e0 = e0_targets.index_select(0, item_at);
  g.anchor = 0.0 * h0.sum() + 0.0 * e0_all.sum();
  return g;
}

}  // namespace

GatheredBatch gather_batch(const BprInputs& in, const Triples& t, const std::vector<int64_t>& items,
                           int64_t global_step) {
  return in.neighbors != nullptr ? gather_minibatch(in, t, items, global_step)
                                 : gather_full(in, t, items, global_step);
}

StepResult finish_step(const GatheredBatch& g, const at::Tensor& loss) {
  loss.backward();
  StepResult r;
  r.loss = loss.item<double>();
  r.sampled_nodes = g.sampled_nodes;
  r.sampled_edges = g.sampled_edges;
  if (g.leaf.defined()) {
    r.rows = g.rows;
    r.grad = g.leaf.grad().defined() ? g.leaf.grad() : at::zeros_like(g.leaf);
  }
  return r;
}

StepResult bpr_forward_backward(const BprInputs& in, const Triples& t, int64_t global_step) {
  const int64_t b = static_cast<int64_t>(t.user.size());
  std::vector<int64_t> items(t.pos);
  items.insert(items.end(), t.neg.begin(), t.neg.end());
  const GatheredBatch g = gather_batch(in, t, items, global_step);
  const at::Tensor eu = model::scoring_vectors(g.user_final, in.cosine);
  const at::Tensor ep = model::scoring_vectors(g.item_final.slice(0, 0, b), in.cosine);
  const at::Tensor en = model::scoring_vectors(g.item_final.slice(0, b, 2 * b), in.cosine);
  const at::Tensor bpr = at::softplus((eu * en).sum(1) - (eu * ep).sum(1)).sum();
  const at::Tensor reg = (g.user_e0.pow(2).sum() + g.item_e0.pow(2).sum()) / 2;
  const double norm = 1.0 / static_cast<double>(std::max<int64_t>(1, t.global_count));
  return finish_step(g, (bpr + in.weight_decay * reg) * norm + g.anchor);
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

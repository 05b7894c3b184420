// HaloExchange and RemoteGather against a single-process computation on the
// global graph: forward values, gradients through two chained exchanges, and
// a numerical gradient check. Rank tests (rank_test.h): under mpirun and as
// 2..5 ranks in threads.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <mutex>

#include "comm/row_exchange.h"
#include "core/error.h"
#include "core/counter_rng.h"
#include "data/prepare.h"
#include "data/synth.h"
#include "graph/csr.h"
#include "partition/halo_plan.h"
#include "partition/partitioner.h"
#include "rank_test.h"
#include "synth_support.h"

namespace halorec::comm {
namespace {

using testing::test_comm;
constexpr int64_t kDim = 4;

// A small dataset made identically on every rank, partitioned with METIS.
struct World {
  data::Dataset d;
  graph::Csr a;
  std::vector<int32_t> owner;
  partition::Shard shard;
  ExchangePlan plan;
  at::Tensor owned_ids;
  at::Tensor rows, cols, vals;  // this shard's CSR as COO tensors (local indices)

  World() {
    const data::SynthOptions o = testing_support::small_synth(60, 40, 600, 3, 4);
    data::SynthModel model(o);
    data::RawInteractions raw;
    for (int64_t u = 0; u < o.users; ++u) raw.users.intern("u" + std::to_string(u));
    for (int64_t i = 0; i < o.items; ++i) raw.items.intern("i" + std::to_string(i));
    for (int64_t k = 0; k < o.interactions; ++k) {
      const auto x = model.draw(k);
      raw.train.push(x.user, x.item, 1.0f);
    }
    raw.stats.records = o.interactions;
    data::PrepareReport report;
    d = data::build_dataset(std::move(raw), 0, data::parse_split("none"), 1, &report);
    a = graph::normalized_adjacency(d);
    const int P = test_comm().size();
    owner = partition::assign_owners(a, P, partition::Method::kMetis, 3);
    shard = std::move(partition::build_shards(d, a, owner, P)[test_comm().rank()]);
    plan = make_exchange_plan(shard.send_index, shard.send_offsets, shard.recv_offsets,
                              at::TensorOptions());
    owned_ids = at::tensor(at::ArrayRef<int64_t>(shard.owned), at::kLong);
    std::vector<int64_t> r;
    for (int64_t k = 0; k < shard.num_owned(); ++k)
      for (int64_t e = shard.indptr[k]; e < shard.indptr[k + 1]; ++e) r.push_back(k);
    rows = at::tensor(at::ArrayRef<int64_t>(r), at::kLong);
    cols = at::tensor(at::ArrayRef<int64_t>(shard.col), at::kLong);
    vals = at::tensor(at::ArrayRef<float>(shard.value), at::kFloat).to(at::kDouble);
  }
  int64_t n() const { return a.num_rows; }

  // y = A_local [owned; halo], differentiable.
  at::Tensor spmm(const at::Tensor& full) const {
    return at::zeros({shard.num_owned(), full.size(1)}, full.options())
        .index_add(0, rows, full.index_select(0, cols) * vals.unsqueeze(1));
  }
  // Global A @ x for the reference.
  at::Tensor global_spmm(const at::Tensor& x) const {
    at::Tensor y = at::zeros_like(x);
    for (int64_t v = 0; v < a.num_rows; ++v)
      for (int64_t e = a.indptr[v]; e < a.indptr[v + 1]; ++e)
        y[v] += x[a.col[e]] * static_cast<double>(a.value[e]);
    return y;
  }
};

// One per rank (a thread under run_ranks), built one rank at a time: METIS
// and the synthetic log are not made for concurrent callers.
World& world() {
  static std::mutex building;
  thread_local std::unique_ptr<World> w;
  if (!w) {
    std::lock_guard<std::mutex> lock(building);
    w = std::make_unique<World>();
  }
  return *w;
}

at::Tensor global_x(int64_t n) {
  at::Tensor x = at::empty({n, kDim}, at::kDouble);
  auto acc = x.accessor<double, 2>();
  for (int64_t v = 0; v < n; ++v)
    for (int64_t j = 0; j < kDim; ++j) acc[v][j] = std::sin(0.1 * v + 0.7 * j);
  return x;
}

at::Tensor global_w(int64_t n) {
  at::Tensor w = at::empty({n, kDim}, at::kDouble);
  auto acc = w.accessor<double, 2>();
  for (int64_t v = 0; v < n; ++v)
    for (int64_t j = 0; j < kDim; ++j) acc[v][j] = std::cos(0.3 * v - 0.2 * j);
  return w;
}

// Two propagation layers and a nonlinear loss; returns this rank's share.
at::Tensor two_layer_loss(const World& w, const at::Tensor& owned_x, const at::Tensor& owned_w) {
  Communicator& c = test_comm();
  const at::Tensor y1 = w.spmm(halo_exchange(owned_x, w.plan, c));
  const at::Tensor y2 = w.spmm(halo_exchange(y1, w.plan, c));
  return (y2 * y2 * owned_w).sum();
}

double global_sum(double v) {
  at::Tensor t = at::full({1}, v, at::kDouble);
  test_comm().all_reduce(t, ReduceOp::kSum);
  return t.item<double>();
}

RANK_TEST(HaloExchange, ForwardFillsTheHaloWithOwnersRows) {
  World& w = world();
  const at::Tensor x = global_x(w.n());
  const at::Tensor full = halo_exchange(x.index_select(0, w.owned_ids), w.plan, test_comm());
  ASSERT_EQ(full.size(0), w.shard.num_owned() + w.shard.num_halo());
  std::vector<int64_t> local_to_global = w.shard.owned;
  local_to_global.insert(local_to_global.end(), w.shard.halo.begin(), w.shard.halo.end());
  const at::Tensor ids = at::tensor(at::ArrayRef<int64_t>(local_to_global), at::kLong);
  EXPECT_TRUE(at::equal(full, x.index_select(0, ids)));
}

RANK_TEST(HaloExchange, TwoLayersMatchTheGlobalGraphForwardAndBackward) {
  World& w = world();
  const at::Tensor x = global_x(w.n()), wt = global_w(w.n());
  at::Tensor owned_x = x.index_select(0, w.owned_ids).requires_grad_(true);
  const at::Tensor loss = two_layer_loss(w, owned_x, wt.index_select(0, w.owned_ids));
  loss.backward();
  // Reference on the global graph.
  const at::Tensor y1 = w.global_spmm(x), y2 = w.global_spmm(y1);
  const double expected_loss = (y2 * y2 * wt).sum().item<double>();
  EXPECT_NEAR(global_sum(loss.item<double>()), expected_loss, 1e-9 * std::fabs(expected_loss));
  const at::Tensor g2 = 2 * y2 * wt;
  const at::Tensor gx = w.global_spmm(w.global_spmm(g2));  // A symmetric: A^T = A
  EXPECT_TRUE(at::allclose(owned_x.grad(), gx.index_select(0, w.owned_ids), 1e-10, 1e-12));
}

RANK_TEST(HaloExchange, NumericalGradientCheck) {
  World& w = world();
  const at::Tensor x = global_x(w.n()), wt = global_w(w.n());
  const at::Tensor owned_w = wt.index_select(0, w.owned_ids);
  at::Tensor owned_x = x.index_select(0, w.owned_ids).requires_grad_(true);
  two_layer_loss(w, owned_x, owned_w).backward();
  const double eps = 1e-6;
  CounterRng rng(77);  // same picks on every rank
  for (int pick = 0; pick < 6; ++pick) {
    const int64_t v = static_cast<int64_t>(rng.below(static_cast<uint64_t>(w.n())));
    const int64_t j = static_cast<int64_t>(rng.below(kDim));
    const auto it = std::lower_bound(w.shard.owned.begin(), w.shard.owned.end(), v);
    const bool mine = it != w.shard.owned.end() && *it == v;
    const int64_t local = it - w.shard.owned.begin();
    double loss[2];
    for (int s = 0; s < 2; ++s) {
      at::Tensor xp = x.index_select(0, w.owned_ids);
      if (mine) xp[local][j] += (s == 0 ? eps : -eps);
      loss[s] = global_sum(two_layer_loss(w, xp, owned_w).item<double>());
    }
    const double numeric = (loss[0] - loss[1]) / (2 * eps);
    const double analytic = global_sum(mine ? owned_x.grad()[local][j].item<double>() : 0.0);
    EXPECT_NEAR(numeric, analytic, 1e-6 * std::max(1.0, std::fabs(analytic)))
        << "node " << v << " dim " << j;
  }
}

RANK_TEST(RemoteGather, FetchesRowsByGlobalIdAndRoutesGradientsBack) {
  World& w = world();
  Communicator& c = test_comm();
  const int P = c.size();
  const at::Tensor x = global_x(w.n());
  auto requests_of = [&](int r) {  // repeats, own rows and remote rows
    CounterRng rng(hash_key(5, static_cast<uint64_t>(r)));
    std::vector<int64_t> ids(static_cast<size_t>(5 + 7 * r));
    for (auto& id : ids) id = static_cast<int64_t>(rng.below(static_cast<uint64_t>(w.n())));
    return ids;
  };
  auto weight_of = [](int r, int64_t k) {
    return at::arange(kDim, at::kDouble) * 0.5 + static_cast<double>(r) - 0.1 * k;
  };
  const std::vector<int64_t> mine = requests_of(c.rank());
  const at::Tensor ids = at::tensor(at::ArrayRef<int64_t>(mine), at::kLong);
  const at::Tensor owner = at::tensor(at::ArrayRef<int32_t>(w.owner), at::kInt);
  const GatherPlan plan = make_gather_plan(c, ids, owner, w.owned_ids);
  at::Tensor owned_x = x.index_select(0, w.owned_ids).requires_grad_(true);
  const at::Tensor got = remote_gather(owned_x, plan, c);
  EXPECT_TRUE(at::equal(got, x.index_select(0, ids)));
  at::Tensor weights = at::empty({static_cast<int64_t>(mine.size()), kDim}, at::kDouble);
  for (size_t k = 0; k < mine.size(); ++k) weights[k] = weight_of(c.rank(), k);
  (got * weights).sum().backward();
  at::Tensor expected = at::zeros({w.n(), kDim}, at::kDouble);
  for (int r = 0; r < P; ++r) {
    const std::vector<int64_t> req = requests_of(r);
    for (size_t k = 0; k < req.size(); ++k) expected[req[k]] += weight_of(r, k);
  }
  EXPECT_TRUE(at::allclose(owned_x.grad(), expected.index_select(0, w.owned_ids)));
}

RANK_TEST(RemoteGather, AskingANonOwnerIsACommError) {
  World& w = world();
  Communicator& c = test_comm();
  if (c.size() == 1) GTEST_SKIP() << "needs two ranks";
  // Claim every node is owned by rank 0: rank 0 gets asked for nodes it does not own.
  const at::Tensor wrong_owner = at::zeros({w.n()}, at::kInt);
  const at::Tensor ids = at::arange(w.n(), at::kLong);
  if (c.rank() == 0) {
    EXPECT_THROW(make_gather_plan(c, ids, wrong_owner, w.owned_ids), CommError);
  } else {
    EXPECT_NO_THROW(make_gather_plan(c, ids, wrong_owner, w.owned_ids));
  }
  c.barrier();
}

}  // namespace
}  // namespace halorec::comm

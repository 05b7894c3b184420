// Rank tests (rank_test.h: under mpirun and as 2..5 ranks in threads):
// evaluation equals a brute-force reference; the sampler's
// triples do not depend on the rank count; NGCF's replicated weights end
// bit-identical on every rank; minibatch propagation over exact neighbourhoods
// gives the full graph's vectors, and its sampled neighbourhoods are the same
// on every rank, capped by the fanouts and unbiased.

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <tuple>

#include "data/synth.h"
#include "graph/csr.h"
#include "partition/halo_plan.h"
#include "partition/partitioner.h"
#include "rank_test.h"
#include "synth_support.h"
#include "comm/exchange_plan.h"
#include "comm/local_communicator.h"
#include "comm/row_exchange.h"
#include "core/counter_rng.h"
#include "model/local_graph.h"
#include "model/model.h"
#include "train/evaluator.h"
#include "train/neighborhood.h"
#include "train/sampler.h"
#include "train/trainer.h"

namespace halorec::train {
namespace {

using halorec::testing::test_comm;

struct Fixture {
  testing::SharedTempDir shared{"halorec-mpitest"};
  std::string dir = shared.path();
  data::Dataset d;
  graph::Csr a;
  std::vector<int32_t> owner;
  partition::Shard shard;
  partition::Shard whole;  // one shard holding everything (the P=1 reference)

  Fixture() {
    comm::Communicator& c = test_comm();
    if (c.rank() == 0) {
      data::run_synth(
          testing_support::small_synth(120, 80, 2500, 4, 9, dir + "/d.h5", "random:0.3"));
    }
    c.barrier();
    d = data::read_dataset(dir + "/d.h5");
    a = graph::normalized_adjacency(d);
    owner = partition::assign_owners(a, c.size(), partition::Method::kRandom, 5);
    shard = std::move(partition::build_shards(d, a, owner, c.size())[c.rank()]);
    whole = std::move(partition::build_shards(d, a, std::vector<int32_t>(owner.size(), 0), 1)[0]);
  }
};

// One per rank (a thread under run_ranks); made collectively on first use.
Fixture& fixture() {
  thread_local std::unique_ptr<Fixture> f;
  if (!f) f = std::make_unique<Fixture>();
  return *f;
}

// Final vectors with distinct, exactly representable scores per user:
// user (1, w), item (i + 1, 100000 * (i % 7)); w in {-1, 0, 1, 2}.
at::Tensor planted_vectors(const partition::Shard& s) {
  at::Tensor v = at::empty({s.num_owned(), 2}, at::kFloat);
  for (int64_t k = 0; k < s.num_owned(); ++k) {
    const int64_t g = s.owned[k];
    if (g < s.num_users) {
      v[k][0] = 1.0f;
      v[k][1] = static_cast<float>(g % 4 - 1);
    } else {
      const int64_t i = g - s.num_users;
      v[k][0] = static_cast<float>(i + 1);
      v[k][1] = static_cast<float>(100000 * (i % 7));
    }
  }
  return v;
}

RANK_TEST(Evaluation, EqualsBruteForce) {
  Fixture& f = fixture();
  const std::vector<int64_t> topk = {1, 5, 20};
  const Evaluator ev(f.shard, topk, 7);
  const EvalResult got = ev.evaluate(planted_vectors(f.shard), test_comm());
  // Brute force over the global dataset, in double.
  const int64_t U = f.d.num_users(), I = f.d.num_items();
  std::map<std::string, double> sums;
  int64_t users = 0;
  for (int64_t u = 0; u < U; ++u) {
    std::vector<int64_t> test, train;
    for (size_t r = 0; r < f.d.test.size(); ++r)
      if (f.d.test.user[r] == u) test.push_back(f.d.test.item[r]);
    if (test.empty()) continue;
    ++users;
    for (size_t r = 0; r < f.d.train.size(); ++r)
      if (f.d.train.user[r] == u) train.push_back(f.d.train.item[r]);
    std::vector<std::pair<double, int64_t>> scored;
    for (int64_t i = 0; i < I; ++i) {
      if (std::find(train.begin(), train.end(), i) != train.end()) continue;
      scored.push_back({(i + 1) + static_cast<double>(u % 4 - 1) * 100000 * (i % 7), i});
    }
    std::sort(scored.rbegin(), scored.rend());
    for (int64_t k : topk) {
      double hits = 0, dcg = 0, idcg = 0;
      for (int64_t j = 0; j < std::min<int64_t>(k, scored.size()); ++j) {
        if (std::find(test.begin(), test.end(), scored[j].second) != test.end()) {
          hits += 1;
          dcg += 1 / std::log2(j + 2.0);
        }
      }
      for (int64_t j = 0; j < std::min<int64_t>(k, test.size()); ++j) idcg += 1 / std::log2(j + 2.0);
      const std::string K = std::to_string(k);
      sums["recall@" + K] += hits / test.size();
      sums["ndcg@" + K] += dcg / idcg;
      sums["precision@" + K] += hits / k;
      sums["hitrate@" + K] += hits > 0;
    }
  }
  EXPECT_EQ(got.users, users);
  ASSERT_EQ(got.metrics.size(), sums.size());
  for (const auto& [name, sum] : sums) {
    EXPECT_NEAR(got.metrics.at(name), sum / users, 1e-12) << name;
  }
}

std::vector<std::tuple<int64_t, int64_t, int64_t>> gather_triples(const Triples& t) {
  comm::Communicator& c = test_comm();
  const int64_t n = static_cast<int64_t>(t.user.size());
  at::Tensor mine = at::empty({n, 3}, at::kLong);
  for (int64_t k = 0; k < n; ++k) {
    mine[k][0] = t.user[k];
    mine[k][1] = t.pos[k];
    mine[k][2] = t.neg[k];
  }
  const at::Tensor all = c.all_gather_v(mine);
  std::vector<std::tuple<int64_t, int64_t, int64_t>> out;
  for (int64_t k = 0; k < all.size(0); ++k) {
    out.emplace_back(all[k][0].item<int64_t>(), all[k][1].item<int64_t>(), all[k][2].item<int64_t>());
  }
  std::sort(out.begin(), out.end());
  return out;
}

RANK_TEST(Sampler, TriplesDoNotDependOnTheRankCount) {
  Fixture& f = fixture();
  comm::LocalCommunicator self;  // the one-rank reference
  for (const char* kind : {"uniform", "edge"}) {
    const Sampler dist(parse_sampler(kind), 3, 64, f.shard, f.owner, test_comm());
    const std::vector<int32_t> one(f.owner.size(), 0);
    const Sampler ref(parse_sampler(kind), 3, 64, f.whole, one, self);
    ASSERT_EQ(dist.steps_per_epoch(), ref.steps_per_epoch());
    std::set<std::pair<int64_t, int64_t>> train;
    for (size_t r = 0; r < f.d.train.size(); ++r) train.insert({f.d.train.user[r], f.d.train.item[r]});
    std::set<std::pair<int64_t, int64_t>> seen_edges;
    for (int64_t epoch = 1; epoch <= 2; ++epoch) {
      for (int64_t s = 0; s < dist.steps_per_epoch(); ++s) {
        const Triples t = dist.sample(epoch, s);
        const auto got = gather_triples(t);
        const Triples r = ref.sample(epoch, s);
        std::vector<std::tuple<int64_t, int64_t, int64_t>> want;
        for (size_t k = 0; k < r.user.size(); ++k) want.emplace_back(r.user[k], r.pos[k], r.neg[k]);
        std::sort(want.begin(), want.end());
        ASSERT_EQ(got, want) << kind << " epoch " << epoch << " step " << s;
        EXPECT_EQ(t.global_count, r.global_count);
        for (const auto& [u, p, n] : got) {
          EXPECT_TRUE(train.count({u, p}));
          EXPECT_FALSE(train.count({u, n}));
          if (epoch == 1) seen_edges.insert({u, p});
        }
      }
    }
    if (std::string(kind) == "edge") {
      EXPECT_EQ(seen_edges.size(), train.size());
    }
  }
}

RANK_TEST(Training, NgcfWeightsAreBitIdenticalOnEveryRank) {
  Fixture& f = fixture();
  TrainConfig c;
  c.dataset = f.dir + "/d.h5";
  c.output_dir = f.dir + "/run-ngcf";
  c.parts = f.dir + "/parts-ngcf";
  c.model_type = ModelType::kNgcf;
  c.dim = 8;
  c.layers = 2;
  c.epochs = 2;
  c.batch_size = 128;
  c.lr = 0.01;
  c.threads = 1;
  c.partition_method = "random";
  const TrainSummary s = run_training(c, test_comm());
  ASSERT_FALSE(s.dense_digest.empty());
  std::string digest = s.dense_digest;
  at::Tensor mine = at::from_blob(digest.data(), {64}, at::kChar).clone();
  const at::Tensor all = test_comm().all_gather_v(mine);
  for (int r = 1; r < test_comm().size(); ++r) {
    EXPECT_TRUE(at::equal(all.slice(0, 0, 64), all.slice(0, 64 * r, 64 * (r + 1)))) << "rank " << r;
  }
  EXPECT_GT(s.metrics.at("recall@20"), 0.0);
}

// The shard's model inputs, as the trainer builds them.
struct ShardModel {
  model::LocalGraph graph;
  comm::ExchangePlan halo;
  at::Tensor owned_ids, owner;
  std::unique_ptr<model::Model> net;

  ShardModel(const Fixture& f, const model::ModelConfig& mc) {
    comm::Communicator& c = test_comm();
    const partition::Shard& s = f.shard;
    graph = model::make_local_graph(s.num_owned() + s.num_halo(), s.indptr, s.col, s.value,
                                    c.size() == 1);
    halo = comm::make_exchange_plan(s.send_index, s.send_offsets, s.recv_offsets,
                                    at::TensorOptions());
    owned_ids = at::tensor(s.owned, at::kLong);
    owner = at::tensor(at::ArrayRef<int32_t>(f.owner), at::kInt);
    net = model::make_model(mc, model::ShardContext{&graph, &halo, &c, owned_ids},
                            at::TensorOptions().dtype(at::kFloat));
  }
  // Final vectors of global ids `targets` from full-graph propagation.
  at::Tensor full(const at::Tensor& e0, const std::vector<int64_t>& targets, int64_t step) {
    comm::Communicator& c = test_comm();
    const at::Tensor final_owned = net->forward(e0, step, true);
    const comm::GatherPlan plan =
        comm::make_gather_plan(c, at::tensor(targets, at::kLong), owner, owned_ids);
    return comm::remote_gather(final_owned, plan, c);
  }
  // The same from the sampled neighbourhood of `targets` (ascending, distinct).
  at::Tensor sampled(const NeighborSampler& ns, const at::Tensor& e0,
                     const std::vector<int64_t>& targets, int64_t step) {
    comm::Communicator& c = test_comm();
    const model::Blocks b = ns.sample(targets, step);
    const at::Tensor ids = at::tensor(b.nodes, at::kLong);
    const comm::GatherPlan plan = comm::make_gather_plan(c, ids, owner, owned_ids);
    const at::Tensor h0 = comm::remote_gather(e0, plan, c);
    return net->forward_blocks(h0, b, ids, step, true);
  }
};

// Every rank asks for a different mix of owned and remote nodes.
std::vector<int64_t> some_targets(const partition::Shard& s, uint64_t key) {
  std::vector<int64_t> t;
  for (int64_t v = 0; v < s.num_users + s.num_items; ++v) {
    CounterRng rng(hash_key(key, static_cast<uint64_t>(test_comm().rank()),
                            static_cast<uint64_t>(v)));
    if (rng.uniform() < 0.15) t.push_back(v);
  }
  return t;
}

RANK_TEST(Minibatch, ExactNeighbourhoodsGiveTheFullGraphVectors) {
  Fixture& f = fixture();
  for (const char* type : {"lightgcn", "ngcf"}) {
    model::ModelConfig mc;
    mc.type = type;
    mc.dim = 8;
    mc.layers = std::string(type) == "ngcf" ? 2 : 3;
    mc.dropout = 0.2;  // ngcf: masks keyed by node, so both paths drop the same
    ShardModel m(f, mc);
    const at::Tensor e0 = model::initial_vectors(f.shard.owned, mc.dim, 7);
    const NeighborSampler exact(f.shard, f.owner, mc.layers, {}, 3, test_comm());
    const std::vector<int64_t> targets = some_targets(f.shard, 1);
    at::NoGradGuard no_grad;
    const at::Tensor want = m.full(e0, targets, 5);
    const at::Tensor got = m.sampled(exact, e0, targets, 5);
    ASSERT_EQ(got.sizes(), want.sizes()) << type;
    EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-6))
        << type << ": largest difference " << (got - want).abs().max().item<float>();
  }
}

RANK_TEST(Minibatch, SampledNeighbourhoodsAreCappedAndTheSameOnEveryRank) {
  Fixture& f = fixture();
  comm::Communicator& c = test_comm();
  const NeighborSampler ns(f.shard, f.owner, 2, {3, 2}, 3, c);
  // The same targets on every rank: the same blocks, whoever owns the rows.
  std::vector<int64_t> targets;
  for (int64_t v = 0; v < f.shard.num_users + f.shard.num_items; v += 7) targets.push_back(v);
  const model::Blocks b = ns.sample(targets, 11);
  std::vector<double> flat(b.sizes.begin(), b.sizes.end());
  flat.insert(flat.end(), b.nodes.begin(), b.nodes.end());
  for (const model::LocalGraph& g : b.graphs) {
    const int64_t* ip = g.indptr.data_ptr<int64_t>();
    for (int64_t r = 0; r < g.num_rows; ++r) {
      const int64_t degree = f.whole.indptr[b.nodes[r] + 1] - f.whole.indptr[b.nodes[r]];
      const int64_t fanout = &g == &b.graphs[1] ? 3 : 2;  // hop 1 is layer 2
      EXPECT_EQ(ip[r + 1] - ip[r], std::min(degree, fanout)) << "node " << b.nodes[r];
    }
    for (int64_t k = 0; k < g.col.numel(); ++k) {
      flat.push_back(static_cast<double>(g.col.data_ptr<int64_t>()[k]));
      flat.push_back(g.val.data_ptr<float>()[k]);
    }
  }
  at::Tensor mine = at::tensor(flat, at::kDouble);
  at::Tensor first = mine.clone();
  at::Tensor n = at::tensor({mine.numel()}, at::kLong);
  c.broadcast(n, 0);
  ASSERT_EQ(n.item<int64_t>(), mine.numel());
  c.broadcast(first, 0);
  EXPECT_TRUE(at::equal(first, mine)) << "rank " << c.rank();
  // Another step draws other neighbours.
  const model::Blocks other = ns.sample(targets, 12);
  EXPECT_FALSE(other.nodes == b.nodes && at::equal(other.graphs[1].col, b.graphs[1].col));
}

RANK_TEST(Minibatch, SampledLayersAreUnbiased) {
  Fixture& f = fixture();
  model::ModelConfig mc;
  mc.type = "lightgcn";
  mc.dim = 4;
  mc.layers = 2;
  ShardModel m(f, mc);
  const at::Tensor e0 = model::initial_vectors(f.shard.owned, mc.dim, 7);
  const NeighborSampler ns(f.shard, f.owner, mc.layers, {4, 2}, 3, test_comm());
  const std::vector<int64_t> targets = some_targets(f.shard, 2);
  at::NoGradGuard no_grad;
  const at::Tensor exact = m.full(e0, targets, 0);
  const int steps = 400;
  at::Tensor mean = at::zeros_like(exact);
  for (int s = 0; s < steps; ++s) mean += m.sampled(ns, e0, targets, s) / steps;
  const double one_error = (m.sampled(ns, e0, targets, steps) - exact).abs().mean().item<double>();
  const double mean_error = (mean - exact).abs().mean().item<double>();
  // Independent draws: the error of the mean of 400 shrinks about 20-fold.
  EXPECT_GT(one_error, 0.0);
  EXPECT_LT(mean_error, 0.2 * one_error) << "one draw " << one_error << ", mean " << mean_error;
}

}  // namespace
}  // namespace halorec::train

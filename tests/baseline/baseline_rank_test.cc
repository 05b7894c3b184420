// Baselines as rank tests (rank_test.h: under mpirun and as 2..5 ranks in
// threads): each method over P ranks' user shards gives the numbers of one
// rank. Popularity counts are integers, so every user's ranking is the same
// and only the metrics' means differ: per-user values summed over ranks in
// another order, in double, within users x 2^-53 (150 users: ~2e-14; 1e-12
// allowed). The other methods also sum floats over ranks in another order,
// which may reorder scores that tie to the last bits: their metrics agree to
// 1e-5 (as test_baselines.py checks under mpirun).

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <filesystem>
#include <memory>
#include <string>

#include "baseline/baseline.h"
#include "comm/local_communicator.h"
#include "data/synth.h"
#include "rank_test.h"
#include "synth_support.h"

namespace halorec::baseline {
namespace {

using testing::test_comm;

// A dataset every rank reads, written by rank 0. One per rank (a thread
// under run_ranks).
struct Fixture {
  testing::SharedTempDir dir{"halorec-baseline"};
  Fixture() {
    if (test_comm().rank() == 0) {
      data::run_synth(testing_support::small_synth(150, 90, 3000, 4, 11, dir.path() + "/d.h5"));
    }
    test_comm().barrier();
  }
};

Fixture& fixture() {
  thread_local std::unique_ptr<Fixture> f;
  if (!f) f = std::make_unique<Fixture>();
  return *f;
}

Options options(const std::string& method) {
  Options o;
  o.method = method;
  o.dataset = fixture().dir.path() + "/d.h5";
  o.topk = {10, 20};
  o.threads = 1;
  o.batch_users = 17;  // several blocks per rank
  o.neighbors = 20;
  o.rank = 12;
  o.oversample = 8;
  o.power_iters = 8;
  o.lambda = 50;
  return o;
}

void expect_rank_count_free(const std::string& method, double tolerance) {
  const Options o = options(method);
  comm::LocalCommunicator one;
  const Result ref = run_baseline(o, one);
  const Result got = run_baseline(o, test_comm());
  EXPECT_EQ(got.users, ref.users);
  EXPECT_EQ(got.eval.users, ref.eval.users);
  ASSERT_EQ(got.eval.metrics.size(), ref.eval.metrics.size());
  for (const auto& [name, value] : ref.eval.metrics) {
    EXPECT_NEAR(got.eval.metrics.at(name), value, tolerance)
        << method << " " << name << " at rank " << test_comm().rank() << " of "
        << test_comm().size();
  }
  EXPECT_GT(ref.eval.metrics.at("recall@20"), 0.0) << method;
}

RANK_TEST(Baseline, PopularityIsTheSameOnAnyRankCount) {
  expect_rank_count_free("popularity", 1e-12);
}
RANK_TEST(Baseline, ItemKnnIsTheSameOnAnyRankCount) { expect_rank_count_free("itemknn", 1e-5); }
RANK_TEST(Baseline, EaseIsTheSameOnAnyRankCount) { expect_rank_count_free("ease", 1e-5); }
RANK_TEST(Baseline, GfcfIsTheSameOnAnyRankCount) { expect_rank_count_free("gfcf", 1e-5); }

}  // namespace
}  // namespace halorec::baseline

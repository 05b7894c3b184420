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
#include "baseline/filters.h"
#include "comm/local_communicator.h"
#include "core/check.h"
#include "data/synth.h"
#include "model/graph_filter.h"
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
RANK_TEST(Baseline, ItemKnnIsTheSameOnAnyRankCount) {
  expect_rank_count_free("itemknn", 1e-5);
}
RANK_TEST(Baseline, EaseIsTheSameOnAnyRankCount) {
  expect_rank_count_free("ease", 1e-5);
}
RANK_TEST(Baseline, GfcfIsTheSameOnAnyRankCount) {
  expect_rank_count_free("gfcf", 1e-5);
}
// The filters with several products per block (bspm: blurring, four for
// rk4's sharpening; chebycf: one per order), each a collective.
RANK_TEST(Baseline, BspmIsTheSameOnAnyRankCount) {
  expect_rank_count_free("bspm", 1e-5);
}
RANK_TEST(Baseline, ChebycfIsTheSameOnAnyRankCount) {
  expect_rank_count_free("chebycf", 1e-5);
}

// Every rank counts the same memory need; a limit below it refuses before
// any work, naming the option.
RANK_TEST(Baseline, FiltersRefuseAboveMaxMemory) {
  Options o = options("chebycf");
  o.max_memory_gib = 1e-5;
  try {
    run_baseline(o, test_comm());
    ADD_FAILURE() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--max-memory"), std::string::npos) << e.what();
  }
}

// ChebyCF's published coefficients for its Gowalla setting (K 8, phi 1.5):
// the plateau is 1 at L~ = -1 (P's top, low frequencies) and 0 at L~ = 1,
// so the interpolant's values there are near 1 and 0: sum c_k T_k(-1) =
// sum c_k (-1)^k, sum c_k T_k(1) = sum c_k.
TEST(Filters, ChebyshevCoefficientsInterpolateThePlateau) {
  const std::vector<double> c = model::chebycf_coefficients(8, 1.5);
  ASSERT_EQ(c.size(), 9u);
  double at_one = 0, at_minus_one = 0;
  for (size_t k = 0; k < c.size(); ++k) {
    at_one += c[k];
    at_minus_one += (k % 2 == 0 ? 1 : -1) * c[k];
  }
  EXPECT_NEAR(at_minus_one, 1.0, 0.05);
  EXPECT_NEAR(at_one, 0.0, 0.05);
  // The plateau is symmetric about (0, 1/2): h(-x) = 1 - h(x), so the even
  // coefficients past c_0 vanish and c_0 = 1/2 (up to the 3-decimal rounding).
  EXPECT_NEAR(c[0], 0.5, 1e-3);
  for (size_t k = 2; k < c.size(); k += 2) EXPECT_NEAR(c[k], 0.0, 1e-3) << k;
}

}  // namespace
}  // namespace halorec::baseline

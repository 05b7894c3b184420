// ThreadCommunicator: every operation against a directly computed
// expectation at 1..5 ranks and three dtypes (as collectives_test.cc checks
// the MPI backend), and its contract: mismatched calls, a failing rank and a
// rank that never arrives end every rank's wait with a CommError naming them.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>

#include "comm/thread_communicator.h"
#include "core/counter_rng.h"
#include "core/error.h"

namespace halorec::comm {
namespace {

struct Case {
  int ranks;
  at::ScalarType dtype;
};

class ThreadCollectives : public ::testing::TestWithParam<Case> {
 protected:
  at::TensorOptions opts() const { return at::TensorOptions().dtype(GetParam().dtype); }
  void run(const std::function<void(Communicator&)>& body) const {
    run_ranks(GetParam().ranks, body);
  }
};

int64_t rows_between(int r, int q, int P, uint64_t seed) {
  if (r == P - 1 && P > 1) return 0;  // the last rank sends nothing
  return static_cast<int64_t>(
      hash_key(seed, static_cast<uint64_t>(r), static_cast<uint64_t>(q)) % 4);
}

double code(int from, int to, int64_t k, int64_t j) { return from * 1000 + to * 100 + k * 10 + j; }

at::Tensor block(int from, int to, int64_t rows, int64_t cols) {
  at::Tensor b = at::empty({rows, cols}, at::kDouble);
  for (int64_t k = 0; k < rows; ++k)
    for (int64_t j = 0; j < cols; ++j) b[k][j] = code(from, to, k, j);
  return b;
}

TEST_P(ThreadCollectives, AllToAllV) {
  run([&](Communicator& c) {
    const int P = c.size(), me = c.rank();
    for (uint64_t seed = 1; seed <= 5; ++seed) {
      std::vector<int64_t> send(P), recv(P);
      std::vector<at::Tensor> blocks, expected;
      for (int q = 0; q < P; ++q) {
        send[q] = rows_between(me, q, P, seed);
        recv[q] = rows_between(q, me, P, seed);
        blocks.push_back(block(me, q, send[q], 3));
        expected.push_back(block(q, me, recv[q], 3));
      }
      const at::Tensor out = c.all_to_all_v(at::cat(blocks, 0).to(GetParam().dtype), send, recv);
      EXPECT_EQ(out.scalar_type(), GetParam().dtype);
      EXPECT_TRUE(at::equal(out, at::cat(expected, 0).to(GetParam().dtype)))
          << "rank " << me << " seed " << seed;
    }
  });
}

TEST_P(ThreadCollectives, AllGatherV) {
  run([&](Communicator& c) {
    const int P = c.size(), me = c.rank();
    std::vector<int64_t> counts;
    const at::Tensor out = c.all_gather_v(block(me, 0, me % 3, 2).to(GetParam().dtype), &counts);
    std::vector<at::Tensor> expected;
    for (int q = 0; q < P; ++q) {
      EXPECT_EQ(counts[q], q % 3);
      expected.push_back(block(q, 0, q % 3, 2));
    }
    EXPECT_TRUE(at::equal(out, at::cat(expected, 0).to(GetParam().dtype)));
  });
}

TEST_P(ThreadCollectives, AllReduce) {
  run([&](Communicator& c) {
    const int P = c.size(), me = c.rank();
    const at::Tensor base = at::arange(23, opts());
    at::Tensor sum = base + me;
    c.all_reduce(sum, ReduceOp::kSum);
    EXPECT_TRUE(at::equal(sum, base * P + P * (P - 1) / 2));
    at::Tensor mx = base + me;
    c.all_reduce(mx, ReduceOp::kMax);
    EXPECT_TRUE(at::equal(mx, base + (P - 1)));
    if (at::isFloatingType(GetParam().dtype)) {
      at::Tensor avg = base + me;
      c.all_reduce(avg, ReduceOp::kAvg);
      EXPECT_TRUE(at::allclose(avg, base + (P - 1) / 2.0));
    } else {
      at::Tensor avg = base.clone();
      EXPECT_THROW(c.all_reduce(avg, ReduceOp::kAvg), CommError);
    }
    // In place through a non-contiguous view.
    at::Tensor wide = at::arange(46, opts()).reshape({23, 2}) + me;
    at::Tensor column = wide.select(1, 1);
    c.all_reduce(column, ReduceOp::kSum);
    EXPECT_TRUE(at::equal(wide.select(1, 1),
                          at::arange(46, opts()).reshape({23, 2}).select(1, 1) * P +
                              P * (P - 1) / 2));
  });
}

TEST_P(ThreadCollectives, SumsAreTheSameBitsOnEveryRank) {
  // Values whose float sum depends on the order: every rank must get the
  // rank-order sum, as one MPI reduction gives every rank one result.
  std::mutex m;
  std::vector<at::Tensor> results;
  run([&](Communicator& c) {
    at::Tensor t = at::empty({64}, opts());
    CounterRng rng(hash_key(9, static_cast<uint64_t>(c.rank())));
    for (int64_t k = 0; k < 64; ++k) {
      t[k] = (rng.uniform() - 0.5) * std::pow(10.0, static_cast<double>(k % 9));
    }
    c.all_reduce(t, ReduceOp::kSum);
    std::lock_guard<std::mutex> lock(m);
    results.push_back(t);
  });
  for (const at::Tensor& t : results) EXPECT_TRUE(at::equal(t, results[0]));
}

TEST_P(ThreadCollectives, BroadcastFromEveryRoot) {
  run([&](Communicator& c) {
    for (int root = 0; root < c.size(); ++root) {
      at::Tensor t = at::arange(17, opts()) * (c.rank() + 1);
      c.broadcast(t, root);
      EXPECT_TRUE(at::equal(t, at::arange(17, opts()) * (root + 1))) << "root " << root;
    }
    c.barrier();
    EXPECT_EQ(c.rounds(), c.size() + 1);
  });
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (int ranks = 1; ranks <= 5; ++ranks) {
    for (at::ScalarType t : {at::kFloat, at::kDouble, at::kLong}) out.push_back({ranks, t});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(RanksAndDtypes, ThreadCollectives, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           return "np" + std::to_string(param_info.param.ranks) + "_" +
                                  c10::toString(param_info.param.dtype);
                         });

// What a rank test sees of a failure: the error run_ranks rethrows, and what
// every other rank got.
struct Outcome {
  std::string error;
  std::vector<std::string> others;
};

Outcome outcome_of(int ranks, const std::function<void(Communicator&)>& body,
                   double timeout = 60) {
  Outcome o;
  std::mutex m;
  ThreadRanksOptions options;
  options.timeout = timeout;
  try {
    run_ranks(
        ranks,
        [&](Communicator& c) {
          try {
            body(c);
          } catch (const std::exception& e) {
            std::lock_guard<std::mutex> lock(m);
            o.others.push_back(e.what());
            throw;
          }
        },
        options);
  } catch (const std::exception& e) {
    o.error = e.what();
  }
  return o;
}

TEST(ThreadContract, DifferentOperationsOnTwoRanksNameBoth) {
  const Outcome o = outcome_of(3, [](Communicator& c) {
    at::Tensor t = at::zeros({4});
    if (c.rank() == 1) {
      c.broadcast(t, 0);
    } else {
      c.all_reduce(t, ReduceOp::kSum);
    }
  });
  EXPECT_NE(o.error.find("ranks called different operations"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("rank 1: broadcast from rank 0"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("rank 0: allReduce(sum)"), std::string::npos) << o.error;
  EXPECT_EQ(o.others.size(), 3u);  // every rank's wait ended
}

TEST(ThreadContract, ShapesThatDoNotMatchAreAMismatch) {
  const Outcome o = outcome_of(2, [](Communicator& c) {
    at::Tensor t = at::zeros({c.rank() == 0 ? 4 : 5});
    c.all_reduce(t, ReduceOp::kSum);
  });
  EXPECT_NE(o.error.find("Float [4]"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("Float [5]"), std::string::npos) << o.error;
}

TEST(ThreadContract, AFailingRankEndsTheOthersWaitsAndItsErrorIsRethrown) {
  const auto start = std::chrono::steady_clock::now();
  const Outcome o = outcome_of(4, [](Communicator& c) {
    if (c.rank() == 2) throw InputError("rank two read a bad file");
    c.barrier();
  });
  EXPECT_EQ(o.error, "rank two read a bad file");
  ASSERT_EQ(o.others.size(), 4u);
  int named = 0;
  for (const std::string& e : o.others) named += e.find("rank 2 failed: rank two") != std::string::npos;
  EXPECT_EQ(named, 3);
  // Well before the 60 s timeout: the waits end when the rank fails.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

TEST(ThreadContract, ARankThatNeverArrivesIsNamedAfterTheTimeout) {
  const Outcome o = outcome_of(
      3,
      [](Communicator& c) {
        if (c.rank() == 1) return;  // returns without its barrier
        c.barrier();
      },
      0.2);
  EXPECT_NE(o.error.find("barrier waited 0 s for rank(s) 1"), std::string::npos) << o.error;
}

TEST(ThreadContract, CountsThatDisagreeAreACommError) {
  const Outcome o = outcome_of(2, [](Communicator& c) {
    const at::Tensor t = at::zeros({2, 3});
    // Rank 0 sends 1 row to rank 1, which expects 2.
    const std::vector<int64_t> send = {1, 1};
    const std::vector<int64_t> recv = c.rank() == 1 ? std::vector<int64_t>{2, 0}
                                                    : std::vector<int64_t>{1, 1};
    c.all_to_all_v(t, send, recv);
  });
  EXPECT_NE(o.error.find("rank 1: allToAllV expects 2 rows from rank 0, which sends 1"),
            std::string::npos)
      << o.error;
}

TEST(ThreadContract, RanksPerNodeGiveLocalRanks) {
  std::mutex m;
  std::vector<std::pair<int, int>> seen(5);
  ThreadRanksOptions options;
  options.ranks_per_node = 2;
  run_ranks(
      5,
      [&](Communicator& c) {
        std::lock_guard<std::mutex> lock(m);
        seen[static_cast<size_t>(c.rank())] = {c.local_rank(), c.local_size()};
      },
      options);
  const std::vector<std::pair<int, int>> expected = {{0, 2}, {1, 2}, {0, 2}, {1, 2}, {0, 1}};
  EXPECT_EQ(seen, expected);
}

}  // namespace
}  // namespace halorec::comm

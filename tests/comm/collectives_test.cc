// Every Communicator operation against a directly computed expectation, with
// random sizes including empty messages and ranks that send nothing, for
// float, double and int64, also with messages split by a lowered size limit.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <climits>

#include "core/counter_rng.h"
#include "core/error.h"
#include "mpi_test_support.h"

namespace halorec::comm {
namespace {

using testing::MpiWorld;

struct Case {
  at::ScalarType dtype;
  int64_t max_elements;
};

class Collectives : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { MpiWorld::comm().set_max_message_elements(GetParam().max_elements); }
  void TearDown() override { MpiWorld::comm().set_max_message_elements(INT_MAX); }
  at::TensorOptions opts() const { return at::TensorOptions().dtype(GetParam().dtype); }
};

// Rows rank r sends to rank q in round `seed` (0 to 3; the last rank sends nothing).
int64_t rows_between(int r, int q, int P, uint64_t seed) {
  if (r == P - 1 && P > 1) return 0;
  return static_cast<int64_t>(hash_key(seed, static_cast<uint64_t>(r), static_cast<uint64_t>(q)) % 4);
}

double code(int from, int to, int64_t k, int64_t j) { return from * 1000 + to * 100 + k * 10 + j; }

TEST_P(Collectives, AllToAllV) {
  MpiCommunicator& c = MpiWorld::comm();
  const int P = c.size(), me = c.rank();
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    std::vector<int64_t> send(P), recv(P);
    std::vector<at::Tensor> blocks;
    for (int q = 0; q < P; ++q) {
      send[q] = rows_between(me, q, P, seed);
      recv[q] = rows_between(q, me, P, seed);
      at::Tensor b = at::empty({send[q], 3}, at::kDouble);
      for (int64_t k = 0; k < send[q]; ++k)
        for (int64_t j = 0; j < 3; ++j) b[k][j] = code(me, q, k, j);
      blocks.push_back(b);
    }
    const at::Tensor input = at::cat(blocks, 0).to(GetParam().dtype);
    const at::Tensor out = c.all_to_all_v(input, send, recv);
    ASSERT_EQ(out.dtype(), input.dtype());
    std::vector<at::Tensor> expected;
    for (int q = 0; q < P; ++q) {
      at::Tensor b = at::empty({recv[q], 3}, at::kDouble);
      for (int64_t k = 0; k < recv[q]; ++k)
        for (int64_t j = 0; j < 3; ++j) b[k][j] = code(q, me, k, j);
      expected.push_back(b);
    }
    EXPECT_TRUE(at::equal(out, at::cat(expected, 0).to(GetParam().dtype))) << "seed " << seed;
  }
}

TEST_P(Collectives, AllGatherV) {
  MpiCommunicator& c = MpiWorld::comm();
  const int P = c.size(), me = c.rank();
  const int64_t mine = me % 3;  // ranks 0, 3, ... contribute nothing
  at::Tensor input = at::empty({mine, 2}, at::kDouble);
  for (int64_t k = 0; k < mine; ++k)
    for (int64_t j = 0; j < 2; ++j) input[k][j] = code(me, 0, k, j);
  std::vector<int64_t> counts;
  const at::Tensor out = c.all_gather_v(input.to(GetParam().dtype), &counts);
  std::vector<at::Tensor> expected;
  for (int q = 0; q < P; ++q) {
    EXPECT_EQ(counts[q], q % 3);
    at::Tensor b = at::empty({q % 3, 2}, at::kDouble);
    for (int64_t k = 0; k < q % 3; ++k)
      for (int64_t j = 0; j < 2; ++j) b[k][j] = code(q, 0, k, j);
    expected.push_back(b);
  }
  EXPECT_TRUE(at::equal(out, at::cat(expected, 0).to(GetParam().dtype)));
}

TEST_P(Collectives, AllReduce) {
  MpiCommunicator& c = MpiWorld::comm();
  const int P = c.size(), me = c.rank();
  const int64_t n = 23;
  const at::Tensor base = at::arange(n, opts());
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
  // A non-contiguous tensor is reduced in place too.
  at::Tensor wide = (at::arange(2 * n, opts()).reshape({n, 2}) + me);
  at::Tensor column = wide.select(1, 1);
  c.all_reduce(column, ReduceOp::kSum);
  EXPECT_TRUE(at::equal(wide.select(1, 1), at::arange(2 * n, opts()).reshape({n, 2}).select(1, 1) * P + P * (P - 1) / 2));
}

TEST_P(Collectives, Broadcast) {
  MpiCommunicator& c = MpiWorld::comm();
  for (int root = 0; root < c.size(); ++root) {
    at::Tensor t = at::arange(17, opts()) * (c.rank() + 1);
    c.broadcast(t, root);
    EXPECT_TRUE(at::equal(t, at::arange(17, opts()) * (root + 1))) << "root " << root;
  }
  c.barrier();
}

INSTANTIATE_TEST_SUITE_P(Dtypes, Collectives,
                         ::testing::Values(Case{at::kFloat, INT_MAX}, Case{at::kDouble, INT_MAX},
                                           Case{at::kLong, INT_MAX}, Case{at::kFloat, 5},
                                           Case{at::kDouble, 2}, Case{at::kLong, 1}),
                         [](const auto& param_info) {
                           return std::string(c10::toString(param_info.param.dtype)) + "_limit" +
                                  std::to_string(param_info.param.max_elements == INT_MAX
                                                     ? 0
                                                     : param_info.param.max_elements);
                         });

TEST(CollectivesErrors, BadCountsAreCommErrorsOnEveryRank) {
  MpiCommunicator& c = MpiWorld::comm();
  const at::Tensor t = at::zeros({2, 2});
  EXPECT_THROW(c.all_to_all_v(t, {1}, {1}), CommError);  // wrong number of counts (P != 1)
  std::vector<int64_t> counts(c.size(), 0);
  counts[0] = 5;  // does not add up to the 2 rows
  EXPECT_THROW(c.all_to_all_v(t, counts, counts), CommError);
  at::Tensor h = at::zeros({3}, at::kHalf);
  EXPECT_THROW(c.all_reduce(h, ReduceOp::kSum), CommError);
  c.barrier();
}

TEST(CollectivesErrors, LocalRankComesFromTheSharedMemorySplit) {
  MpiCommunicator& c = MpiWorld::comm();
  // All ranks of this test run on one machine.
  EXPECT_EQ(c.local_size(), c.size());
  EXPECT_EQ(c.local_rank(), c.rank());
}

}  // namespace
}  // namespace halorec::comm

// The one-rank in-process communicator: every collective is the identity,
// with copies where the interface returns a new tensor, and no MPI at all
// (this test binary never initializes MPI).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "comm/local_communicator.h"
#include "core/error.h"

namespace halorec::comm {
namespace {

TEST(LocalCommunicator, CollectivesAreTheIdentity) {
  LocalCommunicator c;
  EXPECT_EQ(c.rank(), 0);
  EXPECT_EQ(c.size(), 1);
  EXPECT_EQ(c.local_size(), 1);
  EXPECT_EQ(c.backend(), "local");
  const at::Tensor x = at::arange(12, at::kFloat).view({4, 3});
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAvg, ReduceOp::kMax}) {
    at::Tensor y = x.clone();
    c.all_reduce(y, op);
    EXPECT_TRUE(at::equal(y, x));
  }
  std::vector<int64_t> counts;
  const at::Tensor g = c.all_gather_v(x, &counts);
  EXPECT_TRUE(at::equal(g, x));
  EXPECT_EQ(counts, (std::vector<int64_t>{4}));
  EXPECT_NE(g.data_ptr(), x.data_ptr());  // a new tensor, as from the other backends
  const at::Tensor a = c.all_to_all_v(x, {4}, {4});
  EXPECT_TRUE(at::equal(a, x));
  EXPECT_NE(a.data_ptr(), x.data_ptr());
  EXPECT_EQ(c.all_to_all_v(at::zeros({0, 3}), {0}, {0}).size(0), 0);
  at::Tensor b = x.clone();
  c.broadcast(b, 0);
  EXPECT_TRUE(at::equal(b, x));
  c.barrier();
  c.set_timeout(5);
  EXPECT_EQ(c.timeout(), 5);
}

TEST(LocalCommunicator, RejectsCountsOfOtherRanks) {
  LocalCommunicator c;
  const at::Tensor x = at::ones({3, 2});
  EXPECT_THROW(c.all_to_all_v(x, {2, 1}, {3}), Error);
  EXPECT_THROW(c.all_to_all_v(x, {2}, {2}), Error);
  at::Tensor y = x.clone();
  EXPECT_THROW(c.broadcast(y, 1), Error);
}

}  // namespace
}  // namespace halorec::comm

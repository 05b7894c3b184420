// The NCCL backend on one rank and one GPU: allReduce, allGatherV, allToAllV
// and HaloExchange. Labelled `gpu`; skips itself where no GPU is visible.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "comm/nccl/nccl_communicator.h"
#include "comm/row_exchange.h"

namespace halorec::comm {
namespace {

std::unique_ptr<NcclCommunicator> make() {
  if (!at::hasCUDA()) return nullptr;
  return std::make_unique<NcclCommunicator>(MPI_COMM_WORLD);
}

#define REQUIRE_GPU(c) \
  if (!(c)) GTEST_SKIP() << "no CUDA device visible to LibTorch"

TEST(Nccl, AllReduceAllGatherAllToAll) {
  auto c = make();
  REQUIRE_GPU(c);
  const auto opts = at::TensorOptions().device(c->device());
  at::Tensor t = at::arange(10, opts.dtype(at::kFloat));
  c->all_reduce(t, ReduceOp::kSum);
  EXPECT_TRUE(at::equal(t.cpu(), at::arange(10, at::kFloat) * c->size()));
  at::Tensor m = at::arange(6, opts.dtype(at::kLong)).reshape({3, 2});
  c->all_reduce(m, ReduceOp::kMax);
  EXPECT_TRUE(at::equal(m.cpu(), at::arange(6, at::kLong).reshape({3, 2})));
  std::vector<int64_t> counts;
  const at::Tensor g = c->all_gather_v(at::ones({2, 3}, opts.dtype(at::kDouble)), &counts);
  EXPECT_EQ(g.size(0), 2 * c->size());
  std::vector<int64_t> rows(c->size(), 1);
  const at::Tensor x = at::arange(c->size() * 4, opts.dtype(at::kFloat)).reshape({c->size(), 4});
  const at::Tensor y = c->all_to_all_v(x, rows, rows);
  EXPECT_EQ(y.size(0), c->size());
  c->barrier();
}

TEST(Nccl, HaloExchangeForwardAndBackward) {
  auto c = make();
  REQUIRE_GPU(c);
  if (c->size() != 1) GTEST_SKIP() << "one-rank test";
  const auto dev = c->device();
  // One rank: no halo, so the exchange is the identity and gradients pass through.
  ExchangePlan plan;
  plan.send_index = at::empty({0}, at::TensorOptions().dtype(at::kLong).device(dev));
  plan.send_counts = {0};
  plan.recv_counts = {0};
  at::Tensor owned = at::rand({5, 3}, at::TensorOptions().device(dev)).requires_grad_(true);
  const at::Tensor full = halo_exchange(owned, plan, *c);
  EXPECT_TRUE(at::equal(full.cpu(), owned.detach().cpu()));
  (full * 2).sum().backward();
  EXPECT_TRUE(at::allclose(owned.grad().cpu(), at::full({5, 3}, 2.0)));
}

}  // namespace
}  // namespace halorec::comm

#include "model/dropout_mask.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/counter_rng.h"

namespace halorec::model {
namespace {

at::Tensor some_ids() {
  // Small, large (beyond 2^32) and unordered ids.
  return at::tensor(std::vector<int64_t>{0, 1, 7, 123456, 4294967296LL + 5, 9000000000123LL, 42},
                    at::kLong);
}

TEST(DropoutMask, TensorOpsEqualTheHostLoopBitForBit) {
  for (double p : {0.1, 0.5, 0.9}) {
    for (uint64_t key : {uint64_t{0}, uint64_t{2020}, hash_key(7, 8, 9), ~uint64_t{0}}) {
      const at::Tensor host = dropout_mask(some_ids(), 64, key, p);
      const at::Tensor ops = dropout_mask_tensor_ops(some_ids(), 64, key, p);
      ASSERT_EQ(host.sizes(), ops.sizes());
      EXPECT_TRUE(at::equal(host, ops)) << "p " << p << " key " << key;
    }
  }
}

TEST(DropoutMask, DropsAboutPAndScalesTheRest) {
  const at::Tensor ids = at::arange(5000, at::kLong);
  const double p = 0.3;
  const at::Tensor m = dropout_mask(ids, 32, 99, p);
  const double dropped = m.eq(0).to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(dropped, p, 0.01);  // 160000 draws: sd 0.0011
  const at::Tensor kept = m.masked_select(m.ne(0));
  EXPECT_TRUE(at::allclose(kept, at::full_like(kept, 1.0 / (1.0 - p))));
}

TEST(DropoutMask, DependsOnIdNotRow) {
  const at::Tensor a = dropout_mask(at::tensor(std::vector<int64_t>{5, 9}, at::kLong), 16, 3, 0.5);
  const at::Tensor b = dropout_mask(at::tensor(std::vector<int64_t>{9, 5}, at::kLong), 16, 3, 0.5);
  EXPECT_TRUE(at::equal(a[0], b[1]));
  EXPECT_TRUE(at::equal(a[1], b[0]));
  EXPECT_FALSE(at::equal(a[0], a[1]));
}

}  // namespace
}  // namespace halorec::model

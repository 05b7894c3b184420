#include "core/counter_rng.h"

#include <gtest/gtest.h>

#include <vector>

namespace halorec {
namespace {

TEST(CounterRng, SameKeySameStreamDifferentKeyDifferentStream) {
  CounterRng a(42), b(42), c(43);
  for (int k = 0; k < 10; ++k) {
    const uint64_t x = a.next();
    EXPECT_EQ(x, b.next());
    EXPECT_NE(x, c.next());
  }
}

TEST(CounterRng, BelowIsInRangeAndRoughlyUniform) {
  CounterRng rng(7);
  std::vector<int> counts(10, 0);
  const int n = 100000;
  for (int k = 0; k < n; ++k) {
    const uint64_t v = rng.below(10);
    ASSERT_LT(v, 10u);
    ++counts[v];
  }
  for (int c : counts) EXPECT_NEAR(c, n / 10, 500);  // ~5 sigma
}

TEST(CounterRng, UniformIsInUnitInterval) {
  CounterRng rng(9);
  double sum = 0;
  for (int k = 0; k < 10000; ++k) {
    const double u = rng.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / 10000, 0.5, 0.015);
}

}  // namespace
}  // namespace halorec

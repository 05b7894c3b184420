#include "graph/csr.h"

#include <gtest/gtest.h>

#include <cmath>

namespace halorec::graph {
namespace {

TEST(NormalizedAdjacency, SymmetricWithLightgcnNormalization) {
  data::Dataset d;
  d.user_ids = {"a", "b"};
  d.item_ids = {"x", "y", "z"};
  d.train.push(0, 0, 1.0f);
  d.train.push(0, 1, 1.0f);
  d.train.push(1, 1, 2.0f);  // weighted
  const Csr a = normalized_adjacency(d);
  ASSERT_EQ(a.num_rows, 5);
  EXPECT_EQ(a.indptr, (std::vector<int64_t>{0, 2, 3, 4, 6, 6}));
  EXPECT_EQ(a.col, (std::vector<int64_t>{2, 3, 3, 0, 0, 1}));
  // Weighted degrees: a 2, b 2, x 1, y 3, z 0.
  const float ax = static_cast<float>(1.0 / std::sqrt(2.0 * 1.0));
  const float ay = static_cast<float>(1.0 / std::sqrt(2.0 * 3.0));
  const float by = static_cast<float>(2.0 / std::sqrt(2.0 * 3.0));
  EXPECT_EQ(a.value, (std::vector<float>{ax, ay, by, ax, ay, by}));
  EXPECT_EQ(a.degree(4), 0);  // an item without train interactions has an empty row
}

}  // namespace
}  // namespace halorec::graph

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

TEST(NormalizedAdjacency, SocialEdgesAreTheirOwnRelationWithTheirOwnDegrees) {
  data::Dataset d;
  d.user_ids = {"a", "b", "c"};
  d.item_ids = {"x", "y"};
  d.train.push(0, 0, 1.0f);
  d.train.push(1, 1, 1.0f);
  d.train.push(2, 0, 1.0f);
  data::SocialEdges s;  // a-c (weight 2), b-c
  s.a = {0, 1};
  s.b = {2, 2};
  s.weight = {2.0f, 1.0f};
  // Degrees over the interactions only: a, b, c 1; x 2; y 1.
  EXPECT_EQ(weighted_degrees(d), (std::vector<double>{1, 1, 1, 2, 1}));
  const Csr g = normalized_adjacency(d, &s, 0.5);
  // Rows: a {c, x}, b {c, y}, c {a, b, x}, x {a, c}, y {b}: social first, sorted.
  EXPECT_EQ(g.indptr, (std::vector<int64_t>{0, 2, 4, 7, 9, 10}));
  EXPECT_EQ(g.col, (std::vector<int64_t>{2, 3, 2, 4, 0, 1, 3, 0, 2, 1}));
  auto v = [](double w, double du, double dv) { return static_cast<float>(w / std::sqrt(du * dv)); };
  // Social edges by the social degrees (a 2, b 1, c 3) times 0.5; the
  // interactions by their own degrees, as without friends.
  EXPECT_EQ(g.value, (std::vector<float>{v(0.5 * 2, 2, 3), v(1, 1, 2), v(0.5 * 1, 1, 3), v(1, 1, 1),
                                         v(0.5 * 2, 3, 2), v(0.5 * 1, 3, 1), v(1, 1, 2), v(1, 2, 1),
                                         v(1, 2, 1), v(1, 1, 1)}));
  // Weight 0: the social relation is left out, the plain graph bit for bit.
  const Csr off = normalized_adjacency(d, &s, 0.0);
  EXPECT_EQ(off.col, normalized_adjacency(d).col);
  EXPECT_EQ(off.value, normalized_adjacency(d).value);
  // Without social edges: the plain graph, bit for bit.
  const Csr plain = normalized_adjacency(d);
  const Csr none = normalized_adjacency(d, nullptr);
  EXPECT_EQ(plain.col, none.col);
  EXPECT_EQ(plain.value, none.value);
  EXPECT_EQ(plain.nnz(), 6);
}

}  // namespace
}  // namespace halorec::graph

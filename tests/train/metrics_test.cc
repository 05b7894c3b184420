#include <gtest/gtest.h>

#include <cmath>

#include "train/evaluator.h"

namespace halorec::train {
namespace {

TEST(RankingMetrics, HandComputed) {
  // Ranked 10, 3, 7, 1, 5; relevant {1, 3, 9}.
  const int64_t ranked[] = {10, 3, 7, 1, 5};
  const int64_t relevant[] = {1, 3, 9};
  std::vector<double> sums(4 * 2, 0.0);
  add_ranking_metrics(ranked, 5, relevant, relevant + 3, {2, 5}, sums.data());
  // K=2: one hit at position 2.
  EXPECT_DOUBLE_EQ(sums[0], 1.0 / 3);                              // recall
  EXPECT_DOUBLE_EQ(sums[1], (1 / std::log2(3)) / (1 + 1 / std::log2(3)));  // ndcg, ideal 2 hits
  EXPECT_DOUBLE_EQ(sums[2], 1.0 / 2);                              // precision
  EXPECT_DOUBLE_EQ(sums[3], 1.0);                                  // hit rate
  // K=5: hits at 2 and 4; ideal DCG over min(3, 5) = 3 hits.
  const double dcg = 1 / std::log2(3) + 1 / std::log2(5);
  const double idcg = 1 + 1 / std::log2(3) + 1 / std::log2(4);
  EXPECT_DOUBLE_EQ(sums[4], 2.0 / 3);
  EXPECT_DOUBLE_EQ(sums[5], dcg / idcg);
  EXPECT_DOUBLE_EQ(sums[6], 2.0 / 5);
  EXPECT_DOUBLE_EQ(sums[7], 1.0);
}

TEST(RankingMetrics, NoHits) {
  const int64_t ranked[] = {4, 5};
  const int64_t relevant[] = {1};
  std::vector<double> sums(4, 0.0);
  add_ranking_metrics(ranked, 2, relevant, relevant + 1, {2}, sums.data());
  EXPECT_EQ(sums, (std::vector<double>{0, 0, 0, 0}));
}

}  // namespace
}  // namespace halorec::train

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "metrics/ranking.h"

namespace halorec::metrics {
namespace {

TEST(RankingMetrics, HandComputed) {
  // Ranked 10, 3, 7, 1, 5; relevant {1, 3, 9}.
  const int64_t ranked[] = {10, 3, 7, 1, 5};
  const int64_t relevant[] = {1, 3, 9};
  std::vector<double> sums(kPerList * 2, 0.0);
  add_ranking_metrics(ranked, 5, relevant, relevant + 3, {2, 5}, sums.data());
  // K=2: one hit at position 2.
  EXPECT_DOUBLE_EQ(sums[0], 1.0 / 3);                                      // recall
  EXPECT_DOUBLE_EQ(sums[1], (1 / std::log2(3)) / (1 + 1 / std::log2(3)));  // ndcg, ideal 2 hits
  EXPECT_DOUBLE_EQ(sums[2], 1.0 / 2);                                      // precision
  EXPECT_DOUBLE_EQ(sums[3], 1.0);                                          // hit rate
  // K=5: hits at 2 and 4; ideal DCG over min(3, 5) = 3 hits.
  const double dcg = 1 / std::log2(3) + 1 / std::log2(5);
  const double idcg = 1 + 1 / std::log2(3) + 1 / std::log2(4);
  EXPECT_DOUBLE_EQ(sums[4], 2.0 / 3);
  EXPECT_DOUBLE_EQ(sums[5], dcg / idcg);
  EXPECT_DOUBLE_EQ(sums[6], 2.0 / 5);
  EXPECT_DOUBLE_EQ(sums[7], 1.0);

  const auto m = means(sums, 2.0, {2, 5});
  EXPECT_DOUBLE_EQ(m.at("recall@2"), 1.0 / 6);
  EXPECT_DOUBLE_EQ(m.at("hitrate@5"), 0.5);
  EXPECT_EQ(m.size(), 8u);
  EXPECT_DOUBLE_EQ(means(sums, 0.0, {2, 5}).at("ndcg@5"), 0.0);
}

TEST(RankingMetrics, NoHitsAndNoRelevant) {
  const int64_t ranked[] = {4, 5};
  const int64_t relevant[] = {1};
  std::vector<double> sums(kPerList, 0.0);
  add_ranking_metrics(ranked, 2, relevant, relevant + 1, {2}, sums.data());
  EXPECT_EQ(sums, (std::vector<double>{0, 0, 0, 0}));
  add_ranking_metrics(ranked, 2, relevant, relevant, {2}, sums.data());  // no test items
  EXPECT_EQ(sums, (std::vector<double>{0, 0, 0, 0}));
}

TEST(RankingMetrics, MaskedTopkSkipsSeenItems) {
  // Two users over 5 items; user 0 has seen item 1 (its best), user 1 item 4.
  const at::Tensor scores =
      at::tensor({0.5f, 0.9f, 0.4f, 0.1f, 0.2f, 0.3f, 0.35f, 0.0f, 0.1f, 0.8f}).view({2, 5});
  const at::Tensor top = masked_topk(scores.clone(), {1, 5 + 4}, 3);
  ASSERT_EQ(top.sizes(), (at::IntArrayRef{2, 3}));
  const int64_t* t = top.data_ptr<int64_t>();
  EXPECT_EQ(t[0], 0);
  EXPECT_EQ(t[1], 2);
  EXPECT_EQ(t[2], 4);
  EXPECT_EQ(t[3], 1);
  EXPECT_EQ(t[4], 0);
  EXPECT_EQ(t[5], 3);
}

TEST(RankingMetrics, CoverageNoveltyDiversity) {
  std::vector<uint8_t> hits(2 * 4, 0);
  const int64_t a[] = {0, 1, 2}, b[] = {0, 3, 1};
  mark_listed(a, 3, {1, 3}, 4, hits.data());
  mark_listed(b, 3, {1, 3}, 4, hits.data());
  const auto cov = coverage(hits.data(), {1, 3}, 4);
  EXPECT_DOUBLE_EQ(cov[0], 0.25);  // item 0 only
  EXPECT_DOUBLE_EQ(cov[1], 1.0);

  // 8 users; item 0 used by 4, item 1 by none (counted as 1).
  const std::vector<int64_t> item_users = {4, 0};
  const int64_t listed[] = {0, 1};
  EXPECT_DOUBLE_EQ(novelty(listed, 2, item_users, 8), (1.0 + 3.0) / 2);
  EXPECT_DOUBLE_EQ(novelty(listed, 0, item_users, 8), 0.0);

  // Two orthogonal unit vectors: diversity 1; the same vector twice: 0.
  EXPECT_NEAR(intra_list_diversity(at::eye(2)), 1.0, 1e-12);
  EXPECT_NEAR(intra_list_diversity(at::ones({2, 1})), 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(intra_list_diversity(at::ones({1, 3})), 0.0);
}

}  // namespace
}  // namespace halorec::metrics

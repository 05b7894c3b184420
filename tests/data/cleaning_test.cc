#include "data/cleaning.h"

#include <gtest/gtest.h>

namespace halorec::data {
namespace {

Interactions make(std::vector<std::pair<int64_t, int64_t>> pairs) {
  Interactions x;
  for (auto [u, i] : pairs) x.push(u, i, 1.0f);
  return x;
}

TEST(MergeDuplicates, SumsWeightsKeepsLatestTimeAndSorts) {
  Interactions x;
  x.has_time = true;
  x.push(1, 5, 1.0f, 100);
  x.push(0, 2, 2.0f, 50);
  x.push(1, 5, 4.0f, 90);
  x.push(1, 5, 0.5f, 300);
  EXPECT_EQ(x.merge_duplicates(), 2);
  EXPECT_EQ(x.user, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(x.item, (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(x.weight, (std::vector<float>{2.0f, 5.5f}));
  EXPECT_EQ(x.time, (std::vector<int64_t>{50, 300}));
}

TEST(KcoreFilter, RepeatsUntilStable) {
  // Users 0,1,2 each rate items 0,1; user 3 rates item 2 only; user 2 also
  // rates item 2. With k=2: user 3 goes (1 record), then item 2 has one
  // record left (user 2) and goes too. Everything else has degree >= 2.
  Interactions x = make({{0, 0}, {0, 1}, {1, 0}, {1, 1}, {2, 0}, {2, 1}, {2, 2}, {3, 2}});
  EXPECT_EQ(kcore_filter(&x, 4, 3, 2), 2);
  EXPECT_EQ(x.size(), 6u);
  for (size_t r = 0; r < x.size(); ++r) EXPECT_LT(x.item[r], 2);
}

TEST(KcoreFilter, CascadesToEmpty) {
  // A path u0-i0-u1-i1: with k=2 every node falls away in turn.
  Interactions x = make({{0, 0}, {1, 0}, {1, 1}});
  EXPECT_EQ(kcore_filter(&x, 2, 2, 2), 3);
  EXPECT_EQ(x.size(), 0u);
}

TEST(KcoreFilter, KOfOneKeepsEverything) {
  Interactions x = make({{0, 0}});
  EXPECT_EQ(kcore_filter(&x, 1, 1, 1), 0);
  EXPECT_EQ(x.size(), 1u);
}

}  // namespace
}  // namespace halorec::data

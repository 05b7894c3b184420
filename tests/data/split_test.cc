#include "data/split.h"

#include <gtest/gtest.h>

#include <set>

#include "core/error.h"

namespace halorec::data {
namespace {

Interactions user_items(int64_t users, int64_t per_user, bool with_time = false) {
  Interactions x;
  x.has_time = with_time;
  for (int64_t u = 0; u < users; ++u) {
    for (int64_t i = 0; i < per_user; ++i) x.push(u, i, 1.0f, 1000 - i);  // item 0 is latest
  }
  return x;
}

TEST(Split, ParseSpecs) {
  EXPECT_EQ(parse_split("random:0.2").ratio, 0.2);
  EXPECT_EQ(parse_split("temporal:3").last, 3);
  EXPECT_EQ(parse_split("none").kind, SplitSpec::Kind::kNone);
  for (const char* bad : {"random", "random:1.5", "random:0", "temporal:0", "temporal:x", "foo:1"}) {
    EXPECT_THROW(parse_split(bad), UsageError) << bad;
  }
}

TEST(Split, RandomTakesTheRatioPerUserAndIsSeeded) {
  Interactions all = user_items(50, 10);
  Interactions test;
  split_per_user(parse_split("random:0.2"), 7, &all, &test);
  EXPECT_EQ(test.size(), 100u);
  EXPECT_EQ(all.size(), 400u);
  std::vector<int> per_user(50, 0);
  for (int64_t u : test.user) ++per_user[u];
  for (int c : per_user) EXPECT_EQ(c, 2);
  // No pair is in both.
  std::set<std::pair<int64_t, int64_t>> train_pairs;
  for (size_t r = 0; r < all.size(); ++r) train_pairs.insert({all.user[r], all.item[r]});
  for (size_t r = 0; r < test.size(); ++r) EXPECT_FALSE(train_pairs.count({test.user[r], test.item[r]}));

  Interactions again = user_items(50, 10), test2;
  split_per_user(parse_split("random:0.2"), 7, &again, &test2);
  EXPECT_EQ(test2.item, test.item);
  Interactions other = user_items(50, 10), test3;
  split_per_user(parse_split("random:0.2"), 8, &other, &test3);
  EXPECT_NE(test3.item, test.item);
}

TEST(Split, RandomNeverEmptiesTrain) {
  Interactions all = user_items(3, 1);
  Interactions test;
  split_per_user(parse_split("random:0.9"), 1, &all, &test);
  EXPECT_EQ(all.size(), 3u);
  EXPECT_EQ(test.size(), 0u);
}

TEST(Split, TemporalTakesEachUsersLatest) {
  Interactions all = user_items(4, 5, true);
  Interactions test;
  split_per_user(parse_split("temporal:2"), 0, &all, &test);
  ASSERT_EQ(test.size(), 8u);
  for (size_t r = 0; r < test.size(); ++r) EXPECT_LT(test.item[r], 2) << "items 0,1 are latest";
  EXPECT_TRUE(test.has_time);
  EXPECT_EQ(all.size(), 12u);
}

}  // namespace
}  // namespace halorec::data

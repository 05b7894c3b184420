// serve/ without the binary: model.h5 round trips (fp32 and fp16), row
// reordering, the strategies' merge and MMR, exact candidate retrieval with
// seen items left out, user lookup by id and pseudonym, and Ward clusters.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/digest.h"
#include "core/error.h"
#include "serve/alignment.h"
#include "serve/interests.h"
#include "serve/model_file.h"
#include "serve/retrieval.h"
#include "serve/strategies.h"
#include "test_support.h"

namespace halorec::serve {
namespace {

// 4 users and 6 items in dim 2: item i = (cos a_i, sin a_i), user u = item u's
// direction scaled by u + 1, so each user's best item is known.
ModelFile small_model() {
  ModelFile m;
  m.dim = 2;
  for (int i = 0; i < 6; ++i) {
    m.item_ids.push_back("item" + std::to_string(i));
    m.item_vectors.push_back(static_cast<float>(std::cos(0.5 * i)));
    m.item_vectors.push_back(static_cast<float>(std::sin(0.5 * i)));
  }
  for (int u = 0; u < 4; ++u) {
    m.user_ids.push_back("user" + std::to_string(u));
    m.user_vectors.push_back(static_cast<float>((u + 1) * std::cos(0.5 * u)));
    m.user_vectors.push_back(static_cast<float>((u + 1) * std::sin(0.5 * u)));
  }
  m.model_type = "lightgcn";
  m.layers = 3;
  m.dataset_fingerprint = std::string(64, 'c');
  m.step = 42;
  m.metrics_json = "{\"recall@20\":0.5}";
  return m;
}

TEST(ModelFile, RoundTripsIdsVectorsAndMetadata) {
  testing::TempDir dir;
  const ModelFile m = small_model();
  write_model_file(m, dir.file("model.h5"));
  EXPECT_TRUE(is_model_file(dir.file("model.h5")));
  const ModelFile got = read_model_file(dir.file("model.h5"));
  EXPECT_EQ(got.user_ids, m.user_ids);
  EXPECT_EQ(got.item_ids, m.item_ids);
  EXPECT_EQ(got.user_vectors, m.user_vectors);
  EXPECT_EQ(got.item_vectors, m.item_vectors);
  EXPECT_EQ(got.dim, 2);
  EXPECT_EQ(got.model_type, "lightgcn");
  EXPECT_EQ(got.layers, 3);
  EXPECT_EQ(got.step, 42);
  EXPECT_EQ(got.dataset_fingerprint, m.dataset_fingerprint);
  EXPECT_EQ(got.metrics_json, m.metrics_json);
  EXPECT_FALSE(is_model_file(dir.write("other.h5", "not hdf5")));
}

TEST(ModelFile, Fp16StoresEveryValueRoundedToHalf) {
  testing::TempDir dir;
  ModelFile m = small_model();
  m.dtype = "fp16";
  write_model_file(m, dir.file("model.h5"));
  const ModelFile got = read_model_file(dir.file("model.h5"));
  const at::Tensor want =
      at::tensor(m.item_vectors, at::kFloat).to(at::kHalf).to(at::kFloat);
  EXPECT_TRUE(at::equal(at::tensor(got.item_vectors, at::kFloat), want));
  EXPECT_EQ(got.dtype, "fp16");
}

TEST(ModelFile, ReorderUsersMovesIdsWithTheirVectors) {
  ModelFile m = small_model();
  const ModelFile before = m;
  reorder_users(m, {3, 1, 0, 2});
  ASSERT_EQ(m.user_ids[0], "user3");
  for (size_t row = 0; row < m.user_ids.size(); ++row) {
    const size_t from = static_cast<size_t>(
        std::find(before.user_ids.begin(), before.user_ids.end(), m.user_ids[row]) -
        before.user_ids.begin());
    EXPECT_EQ(m.user_vectors[2 * row], before.user_vectors[2 * from]);
    EXPECT_EQ(m.user_vectors[2 * row + 1], before.user_vectors[2 * from + 1]);
  }
}

TEST(Strategies, NamesParseAndUnknownOnesNameTheOption) {
  EXPECT_EQ(parse_strategy("single"), Strategy::kSingle);
  EXPECT_EQ(parse_strategy("mmr"), Strategy::kMmr);
  EXPECT_STREQ(strategy_name(Strategy::kMulti), "multi");
  try {
    parse_strategy("best");
    ADD_FAILURE() << "'best' parsed";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--strategy"), std::string::npos) << e.what();
  }
}

TEST(Strategies, MergeGivesSlotsInProportionToWeightsWithoutRepeats) {
  // Interest 0 (weight 0.75) and 1 (0.25); both rank item 7 first.
  const std::vector<std::vector<int64_t>> lists = {{7, 1, 2, 3, 4}, {7, 8, 9}};
  const std::vector<std::vector<float>> values = {{9, 8, 7, 6, 5}, {9, 3, 2}};
  std::vector<int64_t> out;
  std::vector<float> scores;
  std::vector<int32_t> interest;
  merge_by_weight(lists, values, 0, {0.75f, 0.25f}, 4, &out, &scores, &interest);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(std::count(interest.begin(), interest.end(), 0), 3);  // D'Hondt: 3 of 4 slots
  EXPECT_EQ(std::count(interest.begin(), interest.end(), 1), 1);
  std::vector<int64_t> sorted = out;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end()) << "an item twice";
  EXPECT_EQ(out[0], 7);
  EXPECT_NE(std::find(out.begin(), out.end(), 8), out.end());  // interest 1's best unchosen
}

TEST(Strategies, MmrWithoutDiversityIsTheScoreOrderAndWithItSpreadsOut) {
  // Items 0 and 1 point the same way, item 2 elsewhere; scores 3 > 2.9 > 1.
  const at::Tensor unit = at::tensor({1.0f, 0.0f, 1.0f, 0.0f, 0.0f, 1.0f}).view({3, 2});
  std::vector<int64_t> out;
  std::vector<float> scores;
  mmr_select({0, 1, 2}, {3.0f, 2.9f, 1.0f}, unit, 2, 0.0, &out, &scores);
  EXPECT_EQ(out, (std::vector<int64_t>{0, 1}));
  out.clear();  // mmr_select appends
  scores.clear();
  mmr_select({0, 1, 2}, {3.0f, 2.9f, 1.0f}, unit, 2, 0.7, &out, &scores);
  EXPECT_EQ(out, (std::vector<int64_t>{0, 2}));
}

TEST(Retrieval, ExactCandidatesAreTheBestUnseenItems) {
  const ModelFile m = small_model();
  const Views v = views_of(m);
  data::Interactions seen_x;
  seen_x.push(0, 0, 1);  // user 0 has its best item
  seen_x.push(2, 5, 1);
  seen_x.push(2, 1, 1);
  const Seen seen = by_user(seen_x, 4);
  EXPECT_EQ(seen.count(2), 2);
  EXPECT_EQ(std::vector<int64_t>(seen.begin(2), seen.end(2)), (std::vector<int64_t>{1, 5}));
  CandidateSource source;
  source.views = &v;
  source.seen = &seen;
  std::vector<std::vector<int64_t>> items;
  std::vector<std::vector<float>> values;
  best_candidates(source, v.users, {0, 1, 2, 3}, 3, &items, &values);
  ASSERT_EQ(items.size(), 4u);
  for (int64_t u = 0; u < 4; ++u) {
    // Brute force: every unseen item by score, best first.
    std::vector<std::pair<float, int64_t>> all;
    for (int64_t i = 0; i < 6; ++i) {
      if (std::find(seen.begin(u), seen.end(u), i) != seen.end(u)) continue;
      all.push_back({(v.users[u] * v.items[i]).sum().item<float>(), i});
    }
    std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.first > b.first; });
    ASSERT_EQ(items[u].size(), 3u) << "user " << u;
    for (size_t k = 0; k < 3; ++k) {
      EXPECT_EQ(items[u][k], all[k].second) << "user " << u << " rank " << k;
      EXPECT_FLOAT_EQ(values[u][k], all[k].first);
    }
  }
}

TEST(Alignment, UsersAreFoundByIdOrPseudonymAndUnknownOnesNamed) {
  ModelFile m = small_model();
  EXPECT_EQ(user_rows_of(m, {"user2", "user0"}, ""), (std::vector<int64_t>{2, 0}));
  try {
    user_rows_of(m, {"user1", "nobody"}, "");
    ADD_FAILURE() << "an unknown user found";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("nobody"), std::string::npos) << e.what();
  }
  const std::string key(32, 'k');
  for (std::string& id : m.user_ids) id = hmac_sha256_hex(key, id);
  m.user_id_scheme = "hmac-sha256";
  m.key_check = hmac_sha256_hex(key, kKeyCheckMessage);
  EXPECT_EQ(user_rows_of(m, {"user3"}, key), (std::vector<int64_t>{3}));
  EXPECT_THROW(user_rows_of(m, {"user3"}, std::string(32, 'x')), Error);
}

TEST(Interests, WardFindsTwoSeparatedGroupsAndWeightsThemByShare) {
  // Six items near (1, 0) and two near (0, 1): two interests, 6/8 and 2/8.
  std::vector<float> vectors;
  for (int k = 0; k < 6; ++k) {
    vectors.push_back(1.0f);
    vectors.push_back(0.02f * k);
  }
  for (int k = 0; k < 2; ++k) {
    vectors.push_back(0.02f * k);
    vectors.push_back(1.0f);
  }
  const std::vector<int32_t> labels = ward_clusters(vectors, 8, 2, 0.8, 5);
  for (int k = 1; k < 6; ++k) EXPECT_EQ(labels[k], labels[0]);
  EXPECT_EQ(labels[7], labels[6]);
  EXPECT_NE(labels[6], labels[0]);
  std::vector<int64_t> items(8);
  std::iota(items.begin(), items.end(), 0);
  InterestOptions options;
  options.threshold = 0.8;
  const std::vector<Interest> found = find_interests(items, vectors, 2, options);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_DOUBLE_EQ(found[0].weight, 0.75);
  EXPECT_EQ(found[0].size, 6);
  EXPECT_LT(found[0].medoid, 6);
  EXPECT_GE(found[1].medoid, 6);
  InterestOptions bad;
  bad.max_interests = 0;
  EXPECT_THROW(check_interest_options(bad), UsageError);
}

TEST(Interests, AMergeCostsMoreTheMoreItemsBothSidesHave) {
  // Unit vectors at 0 and 60 degrees (2 - 2 cos = 1). One of each: merging
  // costs 1 * 1 / 2 * 1 = 0.5, under 0.8: one interest. Six of each (tiny
  // jitter): 6 * 6 / 12 * 1 = 3, over it: two interests.
  const double pi = std::acos(-1.0);
  auto points = [&](int each) {
    std::vector<float> v;
    for (double deg : {0.0, 60.0}) {
      for (int k = 0; k < each; ++k) {
        const double a = (deg + 0.01 * k) * pi / 180;
        v.push_back(static_cast<float>(std::cos(a)));
        v.push_back(static_cast<float>(std::sin(a)));
      }
    }
    return v;
  };
  const std::vector<int32_t> two = ward_clusters(points(1), 2, 2, 0.8, 5);
  EXPECT_EQ(two[0], two[1]);
  const std::vector<int32_t> twelve = ward_clusters(points(6), 12, 2, 0.8, 5);
  for (int k = 1; k < 6; ++k) EXPECT_EQ(twelve[k], twelve[0]);
  for (int k = 7; k < 12; ++k) EXPECT_EQ(twelve[k], twelve[6]);
  EXPECT_NE(twelve[6], twelve[0]);
  // Above 3 they merge too; --max 1 merges them whatever the threshold.
  const std::vector<int32_t> high = ward_clusters(points(6), 12, 2, 3.5, 5);
  EXPECT_EQ(*std::max_element(high.begin(), high.end()), 0);
  const std::vector<int32_t> capped = ward_clusters(points(6), 12, 2, 0.8, 1);
  EXPECT_EQ(*std::max_element(capped.begin(), capped.end()), 0);
}

TEST(Interests, TheAutoThresholdIsTheMedianDistanceOfTwoItemsOfOneUser) {
  // Items 0..3 at 0, 60, 90 and 180 degrees in a plane. Users 0, 3 and 4
  // have {0, 1} (2 - 2 cos 60 = 1), user 1 {0, 2} and user 2 {2, 3} (both 90
  // degrees apart: 2). Every user has two interactions, so 3/5 of the pairs
  // drawn are at 1 and 2/5 at 2: of 20,000 draws the median is 1.
  const double pi = std::acos(-1.0);
  std::vector<float> items;
  for (double deg : {0.0, 60.0, 90.0, 180.0}) {
    items.push_back(static_cast<float>(std::cos(deg * pi / 180)));
    items.push_back(static_cast<float>(std::sin(deg * pi / 180)));
  }
  const std::vector<int64_t> user = {0, 0, 1, 1, 2, 2, 3, 3, 4, 4};
  const std::vector<int64_t> item = {0, 1, 0, 2, 2, 3, 0, 1, 0, 1};
  EXPECT_NEAR(calibrate_threshold(5, user, item, items, 2), 1.0, 1e-6);
  // Users with one item each: nothing to calibrate on, the fixed default.
  EXPECT_DOUBLE_EQ(calibrate_threshold(2, {0, 1}, {0, 1}, items, 2), 1.0);
  EXPECT_EQ(parse_threshold("auto", "--threshold"), 0.0);
  EXPECT_EQ(parse_threshold("1.5", "--threshold"), 1.5);
  EXPECT_EQ(parse_threshold("6", "--threshold"), 6.0);  // big groups cost more than 4
  for (const char* bad_text : {"0", "-1", "x", "1.5x", "", "inf", "nan"}) {
    EXPECT_THROW(parse_threshold(bad_text, "--threshold"), UsageError) << bad_text;
  }
}

}  // namespace
}  // namespace halorec::serve

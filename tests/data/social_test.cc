#include "data/social.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "data/synth.h"
#include "test_support.h"

namespace halorec::data {
namespace {

const std::vector<std::string> kUsers = {"ann", "bob", "cat", "dan"};

std::string message_of(const std::string& path) {
  try {
    read_social(path, kUsers, nullptr);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Social, PairsAreUndirectedMergedAndCounted) {
  testing::TempDir dir;
  const std::string path = dir.write(
      "s.tsv",
      "# follower followee weight\n"
      "ann\tbob\n"
      "bob,ann,2.5\n"           // the same pair, the other way: merged, weights summed
      "  cat   dan  \n"         // spaces
      "\n"
      "dan eve\n"               // eve is not a user of the dataset
      "cat cat\n"               // self pair
      "dan ann 0.5\r\n");
  SocialReport r;
  const SocialEdges e = read_social(path, kUsers, &r);
  EXPECT_EQ(e.a, (std::vector<int64_t>{0, 0, 2}));
  EXPECT_EQ(e.b, (std::vector<int64_t>{1, 3, 3}));
  EXPECT_EQ(e.weight, (std::vector<float>{3.5f, 0.5f, 1.0f}));
  EXPECT_EQ(r.lines, 8);
  EXPECT_EQ(r.pairs, 6);
  EXPECT_EQ(r.edges, 3);
  EXPECT_EQ(r.merged, 1);
  EXPECT_EQ(r.unknown_user, 1);
  EXPECT_EQ(r.self_pairs, 1);
  EXPECT_NE(r.first_unknown.find(":6: 'eve'"), std::string::npos) << r.first_unknown;
  EXPECT_EQ(r.fingerprint, social_fingerprint(path));
  EXPECT_EQ(r.fingerprint.size(), 64u);
}

TEST(Social, BadLinesNameTheFileAndLine) {
  testing::TempDir dir;
  EXPECT_NE(message_of(dir.write("a", "ann bob\nann\n")).find("a:2: expected 'USER USER [WEIGHT]'"),
            std::string::npos);
  EXPECT_NE(message_of(dir.write("b", "ann bob 1 2\n")).find("b:1: expected"), std::string::npos);
  for (const char* w : {"0", "-1", "nan", "inf", "1e99", "x", "2x"}) {
    const std::string m = message_of(dir.write("c", std::string("ann bob ") + w + "\n"));
    EXPECT_NE(m.find("c:1: weight"), std::string::npos) << w << ": " << m;
  }
  // Every pair unknown: the ids are probably of another id space.
  const std::string m = message_of(dir.write("d", "1 2\n3 4\n"));
  EXPECT_NE(m.find("none of its 2 pairs joins two users"), std::string::npos) << m;
  EXPECT_NE(message_of(dir.file("missing")).find("cannot open"), std::string::npos);
}

TEST(Social, SynthFriendsShareTheCommunityAtTheHomophilyRate) {
  SynthOptions o;
  o.users = 2000;
  o.items = 500;
  o.communities = 8;
  o.social_degree = 10;
  o.homophily = 0.7;
  const SynthModel m(o);
  int64_t same = 0, total = 0;
  for (int64_t u = 0; u < o.users; ++u) {
    const std::vector<int64_t> f = m.friends(u);
    ASSERT_EQ(static_cast<int64_t>(f.size()), o.social_degree);
    for (int64_t v : f) {
      ASSERT_NE(v, u);
      same += m.user_community(v) == m.user_community(u);
      ++total;
    }
  }
  // 0.7 + 0.3 / 8 expected.
  EXPECT_NEAR(static_cast<double>(same) / static_cast<double>(total), 0.7 + 0.3 / 8, 0.02);
  o.social_degree = 0;
  EXPECT_TRUE(SynthModel(o).friends(3).empty());
}

}  // namespace
}  // namespace halorec::data

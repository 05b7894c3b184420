#include "data/synth.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.h"
#include "data/dataset.h"
#include "data/prepare.h"
#include "test_support.h"

namespace halorec::data {
namespace {

SynthOptions options() {
  SynthOptions o;
  o.users = 400;
  o.items = 300;
  o.interactions = 20000;
  o.communities = 5;
  o.seed = 11;
  return o;
}

TEST(Synth, DrawsAreAFunctionOfSeedAndIndex) {
  SynthModel a(options()), b(options());
  SynthOptions other = options();
  other.seed = 12;
  SynthModel c(other);
  int same_as_c = 0;
  for (int64_t k = 0; k < 1000; ++k) {
    const auto da = a.draw(k), db = b.draw(k), dc = c.draw(k);
    ASSERT_EQ(da.user, db.user);
    ASSERT_EQ(da.item, db.item);
    same_as_c += (da.user == dc.user && da.item == dc.item);
  }
  EXPECT_LT(same_as_c, 50);
}

TEST(Synth, InteractionsStayMostlyInTheUsersCommunity) {
  SynthOptions o = options();
  SynthModel m(o);
  int64_t inside = 0;
  for (int64_t k = 0; k < o.interactions; ++k) {
    const auto d = m.draw(k);
    inside += m.user_community(d.user) == m.item_community(d.item);
  }
  const double expected = o.in_community + (1 - o.in_community) / o.communities;  // 0.84
  EXPECT_NEAR(static_cast<double>(inside) / o.interactions, expected, 0.02);
}

TEST(Synth, ItemPopularityIsSkewed) {
  SynthOptions o = options();
  SynthModel m(o);
  std::vector<int64_t> count(o.items, 0);
  for (int64_t k = 0; k < o.interactions; ++k) ++count[m.draw(k).item];
  std::sort(count.rbegin(), count.rend());
  int64_t top = 0;
  for (int k = 0; k < o.items / 10; ++k) top += count[k];
  EXPECT_GT(static_cast<double>(top) / o.interactions, 0.35);  // uniform would give 0.10
}

TEST(Synth, LogThroughPrepareEqualsDirectDataset) {
  testing::TempDir dir;
  SynthOptions o = options();
  o.split = parse_split("random:0.2");
  o.out = dir.file("log.tsv");
  const SynthReport r = run_synth(o);
  EXPECT_EQ(r.communities_out, dir.file("log.communities.tsv"));
  o.out = dir.file("direct.h5");
  run_synth(o);

  PrepareOptions p;
  p.format = PrepareOptions::Format::kTsv;
  p.train_path = dir.file("log.tsv");
  p.out = dir.file("prepared.h5");
  p.delimited.sep = '\t';
  p.delimited.header = true;
  p.delimited.user_col = "user";
  p.delimited.item_col = "item";
  p.delimited.time_col = "time";
  p.split = o.split;
  p.seed = o.seed;
  const PrepareReport pr = run_prepare(p);
  EXPECT_EQ(pr.records_read, o.interactions);
  const Dataset direct = read_dataset(dir.file("direct.h5"));
  EXPECT_EQ(pr.fingerprint, direct.fingerprint());
  ASSERT_EQ(direct.user_community.size(), direct.user_ids.size());
  SynthModel m(o);
  EXPECT_EQ(direct.user_community[5], m.user_community(std::stoll(direct.user_ids[5].substr(1))));
}

TEST(Synth, BadOptionsAreUsageErrors) {
  SynthOptions o = options();
  o.communities = 1000;
  EXPECT_THROW(SynthModel{o}, UsageError);
  o = options();
  o.out = "x.parquet";
  EXPECT_THROW(run_synth(o), UsageError);
}

}  // namespace
}  // namespace halorec::data

#include "data/prepare.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "test_support.h"

namespace halorec::data {
namespace {

namespace fs = std::filesystem;

PrepareOptions csv_options(const std::string& input, const std::string& out) {
  PrepareOptions o;
  o.format = PrepareOptions::Format::kCsv;
  o.train_path = input;
  o.out = out;
  o.delimited.header = true;
  o.delimited.user_col = "user";
  o.delimited.item_col = "item";
  return o;
}

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Prepare, CleansMapsAndSplitsWithEveryRecordAccountedFor) {
  testing::TempDir dir;
  // carol has one interaction and falls to the 2-core; dave's are below rating.
  const auto in = dir.write("log.csv",
                            "user,item,rating,time\n"
                            "alice,a,5,1\nalice,b,4,2\nalice,c,5,3\nalice,a,5,4\n"
                            "bob,a,4,1\nbob,b,5,2\nbob,c,4,3\n"
                            "carol,a,5,1\n"
                            "dave,a,1,1\ndave,b,2,2\n");
  PrepareOptions o = csv_options(in, dir.file("d.h5"));
  o.delimited.rating_col = "rating";
  o.delimited.time_col = "time";
  o.reader.min_rating = 4;
  o.kcore = 2;
  o.split = parse_split("temporal:1");
  const PrepareReport r = run_prepare(o);
  EXPECT_EQ(r.records_read, 10);
  EXPECT_EQ(r.dropped[DropReason::kBelowRating], 2);
  EXPECT_EQ(r.dropped[DropReason::kDuplicate], 1);
  EXPECT_EQ(r.dropped[DropReason::kKcore], 1);
  EXPECT_EQ(r.users, 2);
  EXPECT_EQ(r.items, 3);
  EXPECT_EQ(r.train, 4);
  EXPECT_EQ(r.test, 2);
  EXPECT_EQ(r.records_kept + r.dropped.total(), r.records_read);

  const Dataset d = read_dataset(dir.file("d.h5"));
  EXPECT_EQ(d.user_ids, (std::vector<std::string>{"alice", "bob"}));
  // alice's latest is a (time 4 after merging the duplicate), bob's is c.
  EXPECT_EQ(d.test.user, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(d.test.item, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(d.test.weight[0], 2.0f);  // merged duplicate weights add
}

TEST(Prepare, DenseIdsDoNotDependOnLineOrder) {
  testing::TempDir dir;
  const auto a = dir.write("a.csv", "user,item\nu2,i9\nu1,i9\nu1,i3\nu3,i3\nu2,i3\nu3,i9\n");
  const auto b = dir.write("b.csv", "user,item\nu3,i9\nu1,i3\nu2,i3\nu3,i3\nu2,i9\nu1,i9\n");
  const PrepareReport ra = run_prepare(csv_options(a, dir.file("a.h5")));
  const PrepareReport rb = run_prepare(csv_options(b, dir.file("b.h5")));
  EXPECT_EQ(ra.fingerprint, rb.fingerprint);
}

TEST(Prepare, BehaviorWeightsSumOverMergedPairs) {
  testing::TempDir dir;
  const auto in = dir.write("log.tsv", "u1\tx\tview\nu1\tx\tbuy\nu1\ty\tcart\nu2\tx\tview\n");
  PrepareOptions o;
  o.format = PrepareOptions::Format::kTsv;
  o.train_path = in;
  o.out = dir.file("d.h5");
  o.delimited.sep = '\t';
  o.delimited.behavior_col = "2";
  o.reader.behavior_weights = parse_behavior_weights("view=1,cart=2,buy=4");
  o.split = parse_split("none");
  run_prepare(o);
  const Dataset d = read_dataset(o.out);
  EXPECT_EQ(d.train.weight, (std::vector<float>{5.0f, 2.0f, 1.0f}));
}

TEST(Prepare, GivenTestDropsWhatCannotBeEvaluated) {
  testing::TempDir dir;
  const auto train = dir.write("train.txt", "0 0 1 4\n1 0 1 4\n2 0 1 2\n3 2\n");
  // 0 1: also in train; 3 0: user 3 falls to the 2-core; 0 3: item 3 unknown
  // (skipped); 1 2: item 2 falls to the 2-core; 1 2 again: duplicate; 2 4: kept.
  const auto test = dir.write("test.txt", "0 1\n3 0\n0 3\n1 2 2\n2 4\n");
  PrepareOptions o;
  o.train_path = train;
  o.test_path = test;
  o.out = dir.file("d.h5");
  o.kcore = 2;
  o.reader.skip_bad_lines = true;
  const PrepareReport r = run_prepare(o);
  EXPECT_EQ(r.dropped[DropReason::kTestInTrain], 1);
  EXPECT_EQ(r.dropped[DropReason::kUnknownIdInTest], 1);
  EXPECT_EQ(r.dropped[DropReason::kDuplicate], 1);
  // Train: user 3's only record goes, then item 2 has one record (user 2) and goes.
  EXPECT_EQ(r.dropped[DropReason::kKcore], 2 + 2);  // 2 train records + test "3 0", "1 2"
  EXPECT_EQ(r.test, 1);
  EXPECT_EQ(r.dropped[DropReason::kIdNotInTrain], 0);
  EXPECT_EQ(r.records_kept + r.dropped.total(), r.records_read);
}

TEST(Prepare, TestIdsWithoutTrainInteractionsAfterCleaningAreCounted) {
  testing::TempDir dir;
  // dave occurs in train, but only below the rating threshold.
  PrepareOptions o = csv_options(dir.write("train.csv", "user,item,r\nann,a,5\nann,b,5\n"
                                                          "bob,a,4\ndave,b,1\n"),
                                 dir.file("d.h5"));
  o.test_path = dir.write("test.csv", "user,item,r\nbob,b,5\ndave,a,5\n");
  o.delimited.rating_col = "r";
  o.reader.min_rating = 3;
  const PrepareReport r = run_prepare(o);
  EXPECT_EQ(r.dropped[DropReason::kIdNotInTrain], 1);
  EXPECT_EQ(r.dropped[DropReason::kBelowRating], 1);
  EXPECT_EQ(r.test, 1);
  EXPECT_EQ(r.users, 2);
  EXPECT_EQ(r.records_kept + r.dropped.total(), r.records_read);
}

TEST(Prepare, UnknownTestIdFailsAndWritesNothing) {
  testing::TempDir dir;
  PrepareOptions o;
  o.train_path = dir.write("train.txt", "0 0 1\n1 1\n");
  o.test_path = dir.write("test.txt", "0 1\n7 1\n");
  o.out = dir.file("d.h5");
  const std::string m = message_of([&] { run_prepare(o); });
  EXPECT_NE(m.find("test.txt:2: user '7' does not occur in the train data"), std::string::npos)
      << m;
  EXPECT_FALSE(fs::exists(o.out));
}

TEST(Prepare, UnseenTestRecordsAreDroppedOrKeptAsMisses) {
  testing::TempDir dir;
  PrepareOptions o;
  o.train_path = dir.write("train.txt", "0 0 1\n1 1 2\n");
  // Item 9 and user 7 never occur in train.
  o.test_path = dir.write("test.txt", "0 2 9\n1 0\n7 1\n");
  o.out = dir.file("drop.h5");
  o.reader.unseen_test = UnseenTest::kDrop;
  const PrepareReport dropped = run_prepare(o);
  EXPECT_EQ(dropped.test, 2);
  EXPECT_EQ(dropped.dropped[DropReason::kUnknownIdInTest], 2);
  EXPECT_EQ(dropped.users, 2);
  EXPECT_EQ(dropped.items, 3);
  EXPECT_EQ(dropped.unseen_test, "drop");
  EXPECT_EQ(dropped.test_without_train, 0);

  o.out = dir.file("keep.h5");
  o.reader.unseen_test = UnseenTest::kKeep;
  const PrepareReport kept = run_prepare(o);
  EXPECT_EQ(kept.test, 4);
  EXPECT_EQ(kept.dropped.total(), 0);
  EXPECT_EQ(kept.users, 3);
  EXPECT_EQ(kept.items, 4);
  EXPECT_EQ(kept.test_without_train, 2);
  EXPECT_EQ(kept.users_without_train, 1);
  EXPECT_EQ(kept.items_without_train, 1);
  EXPECT_EQ(kept.unseen_test, "keep");
  EXPECT_EQ(kept.records_kept + kept.dropped.total(), kept.records_read);
  // The kept records are in the test set under their own ids; train is the same.
  const Dataset d = read_dataset(o.out);
  const Dataset d_drop = read_dataset(dir.file("drop.h5"));
  EXPECT_EQ(d.train.size(), d_drop.train.size());
  std::vector<std::string> test_pairs;
  for (size_t r = 0; r < d.test.size(); ++r) {
    test_pairs.push_back(d.user_ids[d.test.user[r]] + "-" + d.item_ids[d.test.item[r]]);
  }
  std::sort(test_pairs.begin(), test_pairs.end());
  EXPECT_EQ(test_pairs, (std::vector<std::string>{"0-2", "0-9", "1-0", "7-1"}));
}

TEST(Prepare, FailureKeepsAnExistingOutput) {
  testing::TempDir dir;
  PrepareOptions o;
  o.train_path = dir.write("train.txt", "0 0 1\n1 1\n");
  o.out = dir.file("d.h5");
  o.split = parse_split("none");
  run_prepare(o);
  const std::string before = read_dataset_info(o.out).fingerprint;
  o.train_path = dir.write("bad.txt", "0 1\nnot ids\n");
  EXPECT_THROW(run_prepare(o), InputError);
  EXPECT_EQ(read_dataset_info(o.out).fingerprint, before);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator{}), 3);
}

TEST(Prepare, EmptyInputIsAnError) {
  testing::TempDir dir;
  PrepareOptions o;
  o.train_path = dir.write("train.txt", "");
  o.out = dir.file("d.h5");
  EXPECT_NE(message_of([&] { run_prepare(o); }).find("train.txt: the file has no interactions"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(o.out));
}

TEST(Prepare, InconsistentOptionsAreUsageErrors) {
  testing::TempDir dir;
  const auto in = dir.write("log.csv", "user,item\na,b\n");
  PrepareOptions o = csv_options(in, dir.file("d.h5"));
  o.reader.min_rating = 3;
  EXPECT_THROW(run_prepare(o), UsageError);
  o = csv_options(in, dir.file("d.h5"));
  o.split = parse_split("temporal:1");
  EXPECT_THROW(run_prepare(o), UsageError);
  o = csv_options(in, dir.file("d.h5"));
  o.test_path = in;
  o.split = parse_split("random:0.5");
  EXPECT_THROW(run_prepare(o), UsageError);
  EXPECT_THROW(parse_behavior_weights("view=1,buy"), UsageError);
  EXPECT_THROW(parse_behavior_weights("view=-1"), UsageError);
}

}  // namespace
}  // namespace halorec::data

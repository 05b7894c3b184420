#include "data/dataset.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "h5/file.h"
#include "test_support.h"

namespace halorec::data {
namespace {

Dataset small() {
  Dataset d;
  d.user_ids = {"alice", "bob"};
  d.item_ids = {"x", "y", "z"};
  d.train.has_time = true;
  d.train.push(0, 0, 1.0f, 10);
  d.train.push(0, 2, 2.0f, 11);
  d.train.push(1, 1, 1.0f, 12);
  d.test.has_time = true;
  d.test.push(1, 2, 1.0f, 13);
  d.split = "temporal:1";
  d.seed = 5;
  d.source = "unit test";
  return d;
}

TEST(Dataset, RoundTripsThroughHdf5) {
  testing::TempDir dir;
  const Dataset d = small();
  write_dataset(d, dir.file("d.h5"), "{}", d.fingerprint());
  const Dataset r = read_dataset(dir.file("d.h5"));
  EXPECT_EQ(r.user_ids, d.user_ids);
  EXPECT_EQ(r.item_ids, d.item_ids);
  EXPECT_EQ(r.train.user, d.train.user);
  EXPECT_EQ(r.train.item, d.train.item);
  EXPECT_EQ(r.train.weight, d.train.weight);
  EXPECT_EQ(r.train.time, d.train.time);
  EXPECT_EQ(r.test.item, d.test.item);
  EXPECT_EQ(r.split, "temporal:1");
  EXPECT_EQ(r.fingerprint(), d.fingerprint());
  const DatasetInfo info = read_dataset_info(dir.file("d.h5"));
  EXPECT_EQ(info.num_users, 2);
  EXPECT_EQ(info.num_items, 3);
  EXPECT_EQ(info.num_train, 3);
  EXPECT_EQ(info.num_test, 1);
  EXPECT_EQ(info.fingerprint, d.fingerprint());
  // CSR offsets of train by user.
  h5::Handle f = h5::open_file(dir.file("d.h5"));
  EXPECT_EQ(h5::read_array<int64_t>(f.get(), "train/indptr"), (std::vector<int64_t>{0, 2, 3}));
}

TEST(Dataset, FingerprintChangesWithContent) {
  Dataset a = small(), b = small();
  b.train.weight[0] = 3.0f;
  EXPECT_NE(a.fingerprint(), b.fingerprint());
  b = small();
  b.item_ids[2] = "zz";
  EXPECT_NE(a.fingerprint(), b.fingerprint());
}

TEST(Dataset, RejectsFilesThatAreNotDatasets) {
  testing::TempDir dir;
  { h5::Handle f = h5::create_file(dir.file("other.h5")); }
  try {
    read_dataset(dir.file("other.h5"));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("is not a HaloRec dataset"), std::string::npos);
  }
  EXPECT_THROW(read_dataset(dir.file("missing.h5")), InputError);
}

TEST(Dataset, UnwritableOutputLeavesNothingBehind) {
  testing::TempDir dir;
  EXPECT_THROW(write_dataset(small(), dir.file("no/such/folder/d.h5"), "{}", "x"), InputError);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

}  // namespace
}  // namespace halorec::data

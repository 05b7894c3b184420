#include "data/id_table.h"

#include <gtest/gtest.h>

namespace halorec::data {
namespace {

TEST(IdTable, InternIsStableAndFindDoesNotAdd) {
  IdTable t;
  EXPECT_EQ(t.intern("b"), 0);
  EXPECT_EQ(t.intern("a"), 1);
  EXPECT_EQ(t.intern("b"), 0);
  EXPECT_EQ(t.find("a"), 1);
  EXPECT_EQ(t.find("zz"), IdTable::kMissing);
  EXPECT_EQ(t.size(), 2);
}

TEST(IdTable, FinalizeOrdersNumericIdsNumericallyAndDropsUnused) {
  IdTable t;
  for (const char* k : {"10", "2", "33", "-1"}) t.intern(k);
  std::vector<std::string> keys;
  const auto remap = t.finalize({true, true, false, true}, &keys);
  EXPECT_EQ(keys, (std::vector<std::string>{"-1", "2", "10"}));
  EXPECT_EQ(remap, (std::vector<int64_t>{2, 1, IdTable::kMissing, 0}));
}

TEST(IdTable, FinalizeOrdersStringIdsByteWise) {
  IdTable t;
  for (const char* k : {"sku-9", "10", "alice"}) t.intern(k);
  std::vector<std::string> keys;
  const auto remap = t.finalize({true, true, true}, &keys);
  EXPECT_EQ(keys, (std::vector<std::string>{"10", "alice", "sku-9"}));
  EXPECT_EQ(remap, (std::vector<int64_t>{2, 0, 1}));
}

TEST(IdTable, ManyKeysKeepStableViews) {
  IdTable t;
  for (int k = 0; k < 5000; ++k) t.intern("user-" + std::to_string(k));  // short and SSO keys
  for (int k = 0; k < 5000; ++k) ASSERT_EQ(t.find("user-" + std::to_string(k)), k);
}

TEST(ParseInt64, IsStrict) {
  int64_t v = 0;
  EXPECT_TRUE(parse_int64("123", &v));
  EXPECT_EQ(v, 123);
  EXPECT_TRUE(parse_int64("-5", &v));
  EXPECT_FALSE(parse_int64("", &v));
  EXPECT_FALSE(parse_int64("12a", &v));
  EXPECT_FALSE(parse_int64("+3", &v));
  EXPECT_FALSE(parse_int64("99999999999999999999", &v));
}

}  // namespace
}  // namespace halorec::data

#include "data/lightgcn_reader.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "test_support.h"

namespace halorec::data {
namespace {

struct Read {
  IdTable users, items;
  Interactions x;
  ReadStats stats;
};

void read(const std::string& path, const ReaderConfig& cfg, Read* r, IdMode mode = IdMode::kAdd) {
  ReadContext ctx(cfg, &r->users, &r->items, mode, &r->x);
  read_lightgcn(path, &ctx);
  r->stats = ctx.stats();
}

TEST(LightgcnReader, ReadsUserItemLists) {
  testing::TempDir dir;
  const auto p = dir.write("train.txt", "0 1 2 3\n1 2\r\n\n2\t5  6 \n3\n");
  Read r;
  read(p, {}, &r);
  EXPECT_EQ(r.stats.lines, 5);
  EXPECT_EQ(r.stats.blank_lines, 1);
  EXPECT_EQ(r.stats.records, 6);
  ASSERT_EQ(r.x.size(), 6u);
  EXPECT_EQ(r.users.key(r.x.user[4]), "2");
  EXPECT_EQ(r.items.key(r.x.item[5]), "6");
  EXPECT_EQ(r.users.find("3"), IdTable::kMissing);  // a user line without items adds no user
}

TEST(LightgcnReader, MalformedLineNamesFileAndLine) {
  testing::TempDir dir;
  const auto p = dir.write("train.txt", "0 1 2\n1 x 3\n");
  Read r;
  try {
    read(p, {}, &r);
    FAIL();
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("train.txt:2"), std::string::npos) << m;
    EXPECT_NE(m.find("'x'"), std::string::npos) << m;
  }
}

TEST(LightgcnReader, SkipBadLinesCountsThem) {
  testing::TempDir dir;
  const auto p = dir.write("train.txt", "0 1 2\n1 x 3\n-4 1\n2 3\n");
  Read r;
  ReaderConfig cfg;
  cfg.skip_bad_lines = true;
  read(p, cfg, &r);
  EXPECT_EQ(r.stats.dropped[DropReason::kMalformed], 2);
  EXPECT_EQ(r.x.size(), 3u);
  EXPECT_EQ(r.stats.records, 5);  // 3 kept + 2 malformed lines
}

TEST(LightgcnReader, TestModeRejectsUnknownIds) {
  testing::TempDir dir;
  Read r;
  read(dir.write("train.txt", "0 1 2\n"), {}, &r);
  const auto test = dir.write("test.txt", "0 2\n0 9\n");
  Interactions t;
  ReaderConfig cfg;
  ReadContext ctx(cfg, &r.users, &r.items, IdMode::kMustExist, &t);
  try {
    read_lightgcn(test, &ctx);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("test.txt:2: item '9' does not occur in the train data"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(r.items.find("9"), IdTable::kMissing);
}

TEST(LightgcnReader, MissingFileIsInputError) {
  Read r;
  EXPECT_THROW(read("/nonexistent/train.txt", {}, &r), InputError);
}

}  // namespace
}  // namespace halorec::data

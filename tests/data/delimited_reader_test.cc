#include "data/delimited_reader.h"

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

void read(const std::string& path, const DelimitedFormat& f, const ReaderConfig& cfg, Read* r) {
  r->x.has_time = f.time_col.has_value();
  ReadContext ctx(cfg, &r->users, &r->items, IdMode::kAdd, &r->x);
  read_delimited(path, f, &ctx);
  r->stats = ctx.stats();
}

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

TEST(SplitFields, PlainAndQuoted) {
  std::vector<std::string_view> f;
  std::vector<std::string> storage;
  std::string err;
  ASSERT_TRUE(split_fields("a,b,,c", ',', &f, &storage, &err));
  EXPECT_EQ(f, (std::vector<std::string_view>{"a", "b", "", "c"}));
  ASSERT_TRUE(split_fields("\"Smith, J\",\"say \"\"hi\"\"\",x,", ',', &f, &storage, &err));
  EXPECT_EQ(f, (std::vector<std::string_view>{"Smith, J", "say \"hi\"", "x", ""}));
  EXPECT_FALSE(split_fields("\"open,b", ',', &f, &storage, &err));
  EXPECT_EQ(err, "unterminated quoted field");
}

TEST(DelimitedReader, ColumnsByHeaderNameWithStringIds) {
  testing::TempDir dir;
  const auto p = dir.write("log.csv",
                           "ts,sku,customer,stars\n"
                           "2020-01-01,SKU-1,alice,5\n"
                           "1577923200,\"SKU,2\",bob,3.5\n");
  DelimitedFormat f;
  f.header = true;
  f.user_col = "customer";
  f.item_col = "sku";
  f.rating_col = "stars";
  f.time_col = "ts";
  Read r;
  read(p, f, {}, &r);
  ASSERT_EQ(r.x.size(), 2u);
  EXPECT_EQ(r.users.key(r.x.user[1]), "bob");
  EXPECT_EQ(r.items.key(r.x.item[1]), "SKU,2");
  EXPECT_EQ(r.x.time[0], 1577836800);
  EXPECT_EQ(r.x.time[1], 1577923200);
}

TEST(DelimitedReader, ColumnsByIndexWithoutHeader) {
  testing::TempDir dir;
  const auto p = dir.write("log.tsv", "x\tu1\ti1\nx\tu2\ti1\n");
  DelimitedFormat f;
  f.sep = '\t';
  f.user_col = "1";
  f.item_col = "2";
  Read r;
  read(p, f, {}, &r);
  ASSERT_EQ(r.x.size(), 2u);
  EXPECT_EQ(r.users.key(r.x.user[1]), "u2");
}

TEST(DelimitedReader, MissingColumnNamesLineAndCounts) {
  testing::TempDir dir;
  const auto p = dir.write("log.csv", "u,i,r\na,b,1\nc,d\n");
  DelimitedFormat f;
  f.header = true;
  f.user_col = "u";
  f.item_col = "i";
  f.rating_col = "r";
  Read r;
  const std::string m = message_of([&] { read(p, f, {}, &r); });
  EXPECT_NE(m.find("log.csv:3: expected at least 3 fields separated by ',', found 2"),
            std::string::npos)
      << m;
}

TEST(DelimitedReader, UnknownHeaderColumnListsColumns) {
  testing::TempDir dir;
  const auto p = dir.write("log.csv", "user,item\na,b\n");
  DelimitedFormat f;
  f.header = true;
  f.user_col = "user_id";
  f.item_col = "item";
  Read r;
  const std::string m = message_of([&] { read(p, f, {}, &r); });
  EXPECT_NE(m.find("--user-col 'user_id' is not a column of the header (columns: user, item)"),
            std::string::npos)
      << m;
}

TEST(DelimitedReader, ColumnNameWithoutHeaderIsAnError) {
  testing::TempDir dir;
  const auto p = dir.write("log.csv", "a,b\n");
  DelimitedFormat f;
  f.user_col = "user";
  Read r;
  EXPECT_NE(message_of([&] { read(p, f, {}, &r); }).find("without a header"), std::string::npos);
}

TEST(DelimitedReader, BadRatingAndTimeAreMalformed) {
  testing::TempDir dir;
  const auto p = dir.write("log.csv", "a,b,x,1\nc,d,4,never\ne,f,4,5\n");
  DelimitedFormat f;
  f.rating_col = "2";
  f.time_col = "3";
  Read r;
  EXPECT_NE(message_of([&] { read(p, f, {}, &r); }).find("log.csv:1: rating 'x'"),
            std::string::npos);
  ReaderConfig skip;
  skip.skip_bad_lines = true;
  Read r2;
  read(p, f, skip, &r2);
  EXPECT_EQ(r2.stats.dropped[DropReason::kMalformed], 2);
  EXPECT_EQ(r2.x.size(), 1u);
}

TEST(DelimitedReader, EmptyIdIsMalformed) {
  testing::TempDir dir;
  const auto p = dir.write("log.csv", "a,\n");
  Read r;
  EXPECT_NE(message_of([&] { read(p, {}, {}, &r); }).find("log.csv:1: empty item id"),
            std::string::npos);
}

TEST(DelimitedReader, RatingThresholdKeepsAtLeastR) {
  testing::TempDir dir;
  const auto p = dir.write("log.csv", "a,x,5\na,y,3.5\nb,x,4\nb,z,1\n");
  DelimitedFormat f;
  f.rating_col = "2";
  ReaderConfig cfg;
  cfg.min_rating = 4.0;
  Read r;
  read(p, f, cfg, &r);
  EXPECT_EQ(r.x.size(), 2u);
  EXPECT_EQ(r.stats.dropped[DropReason::kBelowRating], 2);
  EXPECT_EQ(r.stats.records, 4);
}

TEST(DelimitedReader, BehaviorWeights) {
  testing::TempDir dir;
  const auto p = dir.write("log.csv", "a,x,view\na,x,buy\nb,y,cart\nb,y,share\n");
  DelimitedFormat f;
  f.behavior_col = "2";
  ReaderConfig cfg;
  cfg.behavior_weights = {{"view", 1.0f}, {"cart", 2.0f}, {"buy", 4.0f}};
  Read r;
  read(p, f, cfg, &r);
  EXPECT_EQ(r.x.weight, (std::vector<float>{1.0f, 4.0f, 2.0f}));
  EXPECT_EQ(r.stats.dropped[DropReason::kUnweightedBehavior], 1);
}

TEST(DelimitedReader, HeaderOnlyFileReadsNoRecords) {
  testing::TempDir dir;
  DelimitedFormat f;
  f.header = true;
  Read r;
  read(dir.write("log.csv", "user,item\n"), f, {}, &r);
  EXPECT_EQ(r.stats.records, 0);
  EXPECT_NE(message_of([&] { read(dir.write("e.csv", ""), f, {}, &r); }).find("empty"),
            std::string::npos);
}

TEST(ParseSeparator, NamesAndCharacters) {
  EXPECT_EQ(parse_separator("tab"), '\t');
  EXPECT_EQ(parse_separator("\\t"), '\t');
  EXPECT_EQ(parse_separator(";"), ';');
  EXPECT_THROW(parse_separator("::"), UsageError);
}

}  // namespace
}  // namespace halorec::data

#include "data/timestamp.h"

#include <gtest/gtest.h>

namespace halorec::data {
namespace {

int64_t ts(const char* s) {
  int64_t v = -777;
  EXPECT_TRUE(parse_timestamp(s, &v)) << s;
  return v;
}

TEST(Timestamp, NumbersAreSeconds) {
  EXPECT_EQ(ts("1287532527"), 1287532527);
  EXPECT_EQ(ts("1287532527.9"), 1287532527);
  EXPECT_EQ(ts("0"), 0);
}

TEST(Timestamp, Iso8601) {
  EXPECT_EQ(ts("1970-01-01"), 0);
  EXPECT_EQ(ts("2010-10-19T23:55:27Z"), 1287532527);
  EXPECT_EQ(ts("2010-10-19 23:55:27"), 1287532527);
  EXPECT_EQ(ts("2010-10-20T01:55:27+02:00"), 1287532527);
  EXPECT_EQ(ts("2010-10-19T23:55:27.123Z"), 1287532527);
  EXPECT_EQ(ts("2000-03-01"), 951868800);  // after a leap day
}

TEST(Timestamp, RejectsGarbage) {
  int64_t v = 0;
  for (const char* s : {"", "yesterday", "2010-13-01", "2010-10-19T25:00:00", "2010-10-19X",
                        "12:00", "2010-10-19T23:55:27Q"}) {
    EXPECT_FALSE(parse_timestamp(s, &v)) << s;
  }
}

}  // namespace
}  // namespace halorec::data

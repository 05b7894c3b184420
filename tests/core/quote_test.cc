#include "core/quote.h"

#include <gtest/gtest.h>

namespace halorec {
namespace {

TEST(Quote, EscapesControlBytesAndShortensLongText) {
  EXPECT_EQ(quote("u\x1b[31mred"), "u\\x1b[31mred");
  EXPECT_EQ(quote(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(quote("a\tb\nc\r"), "a\\tb\\nc\\r");
  const std::string big(1000000, 'x');
  const std::string q = quote(big);
  EXPECT_LT(q.size(), 260u);
  EXPECT_NE(q.find("(1000000 bytes)"), std::string::npos);
  // Never half a UTF-8 character: 'é' is two bytes.
  std::string accents;
  for (int k = 0; k < 200; ++k) accents += "\xc3\xa9";
  const std::string cut = quote(accents, 201);
  EXPECT_EQ(cut.substr(0, 200), accents.substr(0, 200));
  EXPECT_EQ(cut[200], '.');
}

TEST(Quote, TsvFieldsStayOneFieldOnOneLine) {
  EXPECT_EQ(tsv_field("plain id"), "plain id");
  EXPECT_EQ(tsv_field("a\tb\nc\\d\r"), "a\\tb\\nc\\\\d\\r");
}

}  // namespace
}  // namespace halorec

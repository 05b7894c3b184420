#include "data/line_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "data/id_table.h"
#include "test_support.h"

namespace halorec::data {
namespace {

std::vector<std::string> lines_of(const std::string& path, size_t max_line = LineReader::kMaxLineBytes) {
  LineReader r(path, max_line);
  std::vector<std::string> out;
  std::string_view line;
  while (r.next(&line)) out.emplace_back(line);
  return out;
}

TEST(LineReader, EveryLineEndingAndALastLineWithout) {
  testing::TempDir dir;
  using V = std::vector<std::string>;
  EXPECT_EQ(lines_of(dir.write("lf", "a\nb\n")), (V{"a", "b"}));
  EXPECT_EQ(lines_of(dir.write("crlf", "a\r\nb\r\n")), (V{"a", "b"}));
  EXPECT_EQ(lines_of(dir.write("cr", "user,item\ru1,i1\ru2,i2\r")), (V{"user,item", "u1,i1", "u2,i2"}));
  EXPECT_EQ(lines_of(dir.write("mixed", "a\r\n\nb\rc")), (V{"a", "", "b", "c"}));
  EXPECT_EQ(lines_of(dir.write("bom", "\xEF\xBB\xBFid\nx\n")), (V{"id", "x"}));
  EXPECT_EQ(lines_of(dir.write("empty", "")), V{});
}

TEST(LineReader, LinesAcrossBufferBoundariesAndCrLfSplitByOne) {
  testing::TempDir dir;
  // 1 MiB buffers: a line that straddles one, and a CR LF split by it.
  std::string big((1 << 20) - 1, 'x');
  const std::string path = dir.write("big", big + "\r\nnext\n");
  const auto got = lines_of(path);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].size(), big.size());
  EXPECT_EQ(got[1], "next");
}

TEST(LineReader, AnOverlongLineNamesFileAndLine) {
  testing::TempDir dir;
  const std::string path = dir.write("long", "ok\n" + std::string(5000, 'z') + "\n");
  try {
    lines_of(path, 4096);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("long:2"), std::string::npos) << e.what();
  }
}

TEST(IdProblem, ControlBytesAndLengthButNotTabs) {
  EXPECT_EQ(id_problem("u1"), "");
  EXPECT_EQ(id_problem("it\t25"), "");
  EXPECT_EQ(id_problem("naïve"), "");
  EXPECT_NE(id_problem(std::string("u1\0evil", 7)).find("NUL"), std::string::npos);
  EXPECT_NE(id_problem("a\x1b[2J").find("0x1b"), std::string::npos);
  EXPECT_NE(id_problem("del\x7f").find("0x7f"), std::string::npos);
  EXPECT_NE(id_problem(std::string(4097, 'a')).find("4096"), std::string::npos);
}

}  // namespace
}  // namespace halorec::data

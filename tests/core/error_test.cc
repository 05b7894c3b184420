#include "core/error.h"

#include <gtest/gtest.h>

#include "core/check.h"

namespace halorec {
namespace {

TEST(Error, ExitCodesSeparateUserMistakesFromFailures) {
  EXPECT_EQ(exit_code_for(InputError("x")), 2);
  EXPECT_EQ(exit_code_for(ConfigError("x")), 2);
  EXPECT_EQ(exit_code_for(UsageError("x")), 2);
  EXPECT_EQ(exit_code_for(CheckpointError("x")), 2);
  EXPECT_EQ(exit_code_for(IoError("x")), 1);
  EXPECT_EQ(exit_code_for(InternalError("x")), 1);
  EXPECT_EQ(exit_code_for(std::runtime_error("x")), 1);
}

TEST(Error, CheckCarriesExpressionValuesAndCallSite) {
  try {
    const int a = 3;
    HR_CHECK_EQ(a, 4);
    FAIL();
  } catch (const InternalError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("a == 4"), std::string::npos) << m;
    EXPECT_NE(m.find("(3 vs 4)"), std::string::npos) << m;
    EXPECT_NE(m.find("error_test.cc"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace halorec

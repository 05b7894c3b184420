// main() of the threaded rank-test binaries: every RANK_TEST at 2..5 ranks.

#include <gtest/gtest.h>

#include "rank_test.h"

INSTANTIATE_TEST_SUITE_P(Ranks, RankThreads, ::testing::Values(2, 3, 4, 5),
                         [](const ::testing::TestParamInfo<int>& param_info) {
                           return "np" + std::to_string(param_info.param);
                         });

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

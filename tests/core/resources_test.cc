#include "core/resources.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/env.h"

namespace halorec {
namespace {

// Without it glibc serves a 100 MB block with mmap and unmaps it on free, so
// the next step page-faults it in again; with it the block comes from the
// heap and stays there for reuse.
TEST(KeepFreedMemory, LargeBlocksComeFromTheHeapAndStay) {
  ::setenv("HALOREC_MALLOC", "system", 1);
  EXPECT_FALSE(keep_freed_memory()) << "HALOREC_MALLOC=system leaves glibc alone";
  ::unsetenv("HALOREC_MALLOC");
  ::setenv("MALLOC_MMAP_MAX_", "65536", 1);
  EXPECT_FALSE(keep_freed_memory()) << "the user's own glibc tunables win";
  ::unsetenv("MALLOC_MMAP_MAX_");
  if (std::getenv("GLIBC_TUNABLES") != nullptr || std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr ||
      std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr) {
    GTEST_SKIP() << "glibc tunables set in the test's environment";
  }
  ASSERT_TRUE(keep_freed_memory());
  const size_t n = size_t{100} << 20;
  const size_t mapped_before = mallinfo2().hblkhd;
  char* p = static_cast<char*>(std::malloc(n));
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, n);
  EXPECT_EQ(mallinfo2().hblkhd, mapped_before) << "a 100 MB block was mmap'd";
  std::free(p);
  // Freed, it stays in the arena (free bytes at least the block's size).
  EXPECT_GE(mallinfo2().fordblks, n);
}

TEST(PositiveEnv, OnlyWholePositiveNumbers) {
  const char* name = "HALOREC_TEST_POSITIVE_ENV";
  ::unsetenv(name);
  EXPECT_EQ(positive_env(name), 0) << "unset";
  const std::pair<const char*, int64_t> cases[] = {
      {"", 0}, {"12", 12}, {"0", 0}, {"-3", 0}, {"12abc", 0}, {"abc", 0}, {" 7x", 0},
      {"99999999999999999999", 0}, {"4000000000", 4000000000}};
  for (const auto& [value, want] : cases) {
    ::setenv(name, value, 1);
    EXPECT_EQ(positive_env(name), want) << "'" << value << "'";
  }
  ::unsetenv(name);
}

TEST(LaunchedRanks, ReadsTheLaunchersCount) {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"}) {
    if (std::getenv(v) != nullptr) GTEST_SKIP() << "started by a launcher (" << v << ")";
  }
  EXPECT_EQ(launched_ranks(), 1);
  ::setenv("PMI_SIZE", "4", 1);
  EXPECT_EQ(launched_ranks(), 4);
  ::setenv("PMI_SIZE", "2000000000", 1);  // not a sane count
  EXPECT_EQ(launched_ranks(), 1);
  ::unsetenv("PMI_SIZE");
}

}  // namespace
}  // namespace halorec

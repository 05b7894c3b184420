#include "core/resources.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>

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

}  // namespace
}  // namespace halorec

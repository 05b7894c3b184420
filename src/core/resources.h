#pragma once
// Process resource readings for reports and benchmarks.

#include <chrono>
#include <cstdint>

namespace halorec {

// Peak resident set size of this process, in bytes.
int64_t peak_rss_bytes();

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace halorec

namespace halorec {

// The number of ranks the launcher (mpirun, mpiexec, srun) started this
// process among, read from its environment without initializing MPI; 1 for a
// process started by itself. Lets one-process commands skip MPI entirely.
int launched_ranks();

// Logical cores of this machine (at least 1).
int64_t machine_cores();

// Intra-op threads for one rank: `asked` (UsageError naming `option` unless
// in 0..1024), 0 meaning cores / ranks on the node. More than the machine's
// cores never helps and costs memory per thread: such a count is lowered to
// the cores, with a warning.
int64_t thread_count(int64_t asked, int64_t ranks_on_node, const char* option);

// Makes glibc keep freed memory for reuse instead of handing it back to the
// kernel: no mmap'd chunks (M_MMAP_MAX 0) and no trimming of the heap's top.
// A training step allocates and frees the same large tensors every step (a
// gathered neighbourhood of 50,000 rows x 512 floats is 100 MB, over glibc's
// 32 MB ceiling for heap allocations); given back each time, every step
// page-faults them in again, which cost two thirds of a Gowalla step at
// dim 512 (docs/architecture.md "Memory allocator"). Leaves glibc alone when
// the user set its own malloc tunables (MALLOC_MMAP_MAX_,
// MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_, GLIBC_TUNABLES) or
// HALOREC_MALLOC=system. Returns whether it changed anything.
bool keep_freed_memory();

}  // namespace halorec

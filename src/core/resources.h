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

}  // namespace halorec

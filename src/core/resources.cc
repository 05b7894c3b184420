#include "core/resources.h"

#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>
#include <thread>

#include "core/check.h"
#include "core/env.h"
#include "core/log.h"

namespace halorec {

int64_t peak_rss_bytes() {
  struct rusage usage {};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return -1;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

namespace {

// A launcher's rank count, 0 when absent or not a sane count.
int rank_count_env(const char* name) {
  const int64_t n = positive_env(name);
  return n < (int64_t{1} << 30) ? static_cast<int>(n) : 0;
}

}  // namespace

int launched_ranks() {
  // Open MPI's mpirun; MPICH / Intel MPI (Hydra) and PMI-1/2 launchers;
  // Slurm's srun (a job step's task count, only where a PMI is present).
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    if (const int n = rank_count_env(name); n > 0) return n;
  }
  if (std::getenv("PMIX_RANK") != nullptr || std::getenv("PMI_RANK") != nullptr) {
    for (const char* name : {"SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"}) {
      if (const int n = rank_count_env(name); n > 0) return n;
    }
  }
  return 1;
}

int64_t machine_cores() {
  return std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
}

bool keep_freed_memory() {
  for (const char* name : {"MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_",
                           "GLIBC_TUNABLES"}) {
    if (std::getenv(name) != nullptr) return false;
  }
  const char* choice = std::getenv("HALOREC_MALLOC");
  if (choice != nullptr && std::string(choice) == "system") return false;
#if defined(__GLIBC__)
  // Trim only past 2 GiB of free heap top; serve nothing with mmap.
  const bool trim = mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max()) == 1;
  const bool mmap = mallopt(M_MMAP_MAX, 0) == 1;
  return trim && mmap;
#else
  return false;
#endif
}

int64_t thread_count(int64_t asked, int64_t ranks_on_node, const char* option) {
  if (asked < 0 || asked > 1024) {
    HR_THROW(UsageError, "{} must be in 0..1024 (0: cores / ranks on the node), got {}", option,
             asked);
  }
  const int64_t cores = machine_cores();
  if (asked == 0) return std::max<int64_t>(1, cores / std::max<int64_t>(1, ranks_on_node));
  if (asked > cores) {
    log::warn("{} {}: this machine has {} cores; using {}", option, asked, cores, cores);
    return cores;
  }
  return asked;
}

}  // namespace halorec

// allToAllV and allReduce throughput over the Communicator for 1 KiB - 64 MiB
// messages, beside a memcpy of the same bytes timed in the same run.
//   mpirun -np 2 build/bin/comm_bench [--backend mpi] [--max-mib 64]

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "comm/communicator_factory.h"
#include "comm/mpi_runtime.h"

namespace {

using Clock = std::chrono::steady_clock;

template <typename F>
double median_seconds(int reps, F&& f) {
  std::vector<double> t;
  f();  // warm-up
  for (int k = 0; k < reps; ++k) {
    const auto a = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - a).count());
  }
  std::nth_element(t.begin(), t.begin() + reps / 2, t.end());
  return t[reps / 2];
}

}  // namespace

int main(int argc, char** argv) {
  using namespace halorec;
  comm::MpiRuntime mpi(&argc, &argv);
  std::string backend = "mpi";
  int64_t max_mib = 64;
  for (int k = 1; k + 1 < argc; k += 2) {
    if (std::string(argv[k]) == "--backend") backend = argv[k + 1];
    if (std::string(argv[k]) == "--max-mib") max_mib = std::stoll(argv[k + 1]);
  }
  return comm::run_or_abort_job([&] {
    auto c = comm::make_communicator(backend, backend == "nccl");
    const int P = c->size();
    const bool cuda = backend == "nccl";
    const auto opts = at::TensorOptions().dtype(at::kFloat).device(cuda ? at::kCUDA : at::kCPU,
                                                                   cuda ? c->local_rank() : -1);
    if (c->rank() == 0) {
      fmt::print("backend {} P={}: bytes per rank; GB/s = bytes / median time\n", backend, P);
      fmt::print("{:>10} {:>12} {:>12} {:>12} {:>10} {:>10}\n", "bytes", "alltoallv_ms",
                 "allreduce_ms", "memcpy_ms", "a2av_GB/s", "ar_GB/s");
    }
    for (int64_t bytes = 1024; bytes <= max_mib * (1 << 20); bytes *= 4) {
      const int64_t n = bytes / 4;
      const int reps = bytes <= (1 << 20) ? 50 : 10;
      // Each rank sends bytes / P to every rank (itself included).
      std::vector<int64_t> counts(P, n / P);
      counts[0] += n - (n / P) * P;
      at::Tensor x = at::rand({n}, opts);
      const double a2a = median_seconds(reps, [&] { c->all_to_all_v(x, counts, counts); });
      const double ar = median_seconds(reps, [&] { c->all_reduce(x, comm::ReduceOp::kSum); });
      std::vector<char> src(static_cast<size_t>(bytes), 1), dst(static_cast<size_t>(bytes));
      const double cp = median_seconds(reps, [&] {
        std::memcpy(dst.data(), src.data(), src.size());
        asm volatile("" : : "r"(dst.data()) : "memory");
      });
      if (c->rank() == 0) {
        fmt::print("{:>10} {:>12.4f} {:>12.4f} {:>12.4f} {:>10.2f} {:>10.2f}\n", bytes, a2a * 1e3,
                   ar * 1e3, cp * 1e3, bytes / a2a / 1e9, bytes / ar / 1e9);
      }
    }
    return 0;
  });
}

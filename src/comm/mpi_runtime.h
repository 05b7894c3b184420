#pragma once
// MPI lifetime and whole-job failure handling.

#include <functional>

namespace halorec::comm {

// Initializes MPI once (MPI_THREAD_FUNNELED: only the main thread calls MPI)
// and finalizes it on destruction. Where MPI was already initialized by
// someone else, it neither initializes nor finalizes.
class MpiRuntime {
 public:
  MpiRuntime(int* argc, char*** argv);
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  static bool initialized();
  static int world_rank();  // -1 before MPI is initialized

 private:
  bool owned_ = false;
};

// Ends every rank of the job now (MPI_Abort), with `code`.
[[noreturn]] void abort_job(int code);

// Runs `body` on this rank. An exception is logged with the rank and its
// cause, then the whole job ends through abort_job, so ranks waiting in a
// collective do not hang. Returns body's exit code otherwise.
int run_or_abort_job(const std::function<int()>& body);

}  // namespace halorec::comm

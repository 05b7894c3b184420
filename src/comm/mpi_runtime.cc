#include "comm/mpi_runtime.h"

#include <mpi.h>

#include <cstdio>
#include <exception>
#include <new>

#include <fmt/format.h>

#include "core/check.h"
#include "core/log.h"

namespace halorec::comm {

MpiRuntime::MpiRuntime(int* argc, char*** argv) {
  int init = 0;
  MPI_Initialized(&init);
  if (init) return;
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    HR_THROW(CommError, "MPI_Init_thread failed");
  }
  owned_ = true;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size > 1) log::set_prefix(fmt::format("rank {}", world_rank()));
}

MpiRuntime::~MpiRuntime() {
  // After a failed write HDF5's MPI_Finalize hook would crash: the process
  // ends through exit_now instead (core/error.h).
  if (!owned_ || unclean_exit()) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

bool MpiRuntime::initialized() {
  int init = 0, finalized = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&finalized);
  return init && !finalized;
}

int MpiRuntime::world_rank() {
  if (!initialized()) return -1;
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

void abort_job(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (MpiRuntime::initialized()) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

int run_or_abort_job(const std::function<int()>& body) {
  int code = 0;
  try {
    return body();
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "halorec: rank {}: error: out of memory; ending the job\n",
               MpiRuntime::world_rank());
    code = 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "halorec: rank {}: error: {}; ending the job\n", MpiRuntime::world_rank(),
               e.what());
    code = exit_code_for(e);
  }
  int size = 1;
  if (MpiRuntime::initialized()) MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size == 1) {  // alone: a normal exit keeps the exit code exact
    if (unclean_exit()) exit_now(code);
    return code;
  }
  abort_job(code);
}

}  // namespace halorec::comm

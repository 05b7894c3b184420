// A job where rank 1 fails while the others wait in a collective: the whole
// job must end promptly with a message naming rank 1 (tests/comm/test_abort.py).

#include <ATen/ATen.h>

#include <chrono>
#include <thread>

#include "comm/mpi_communicator.h"
#include "comm/mpi_runtime.h"
#include "core/check.h"

int main(int argc, char** argv) {
  using namespace halorec;
  comm::MpiRuntime mpi(&argc, &argv);
  return comm::run_or_abort_job([] {
    comm::MpiCommunicator c;
    at::Tensor t = at::ones({4});
    c.all_reduce(t, comm::ReduceOp::kSum);
    if (c.rank() == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      HR_THROW(InputError, "planted failure in the middle of the run");
    }
    c.all_reduce(t, comm::ReduceOp::kSum);  // the others wait here forever without abort
    return 0;
  });
}

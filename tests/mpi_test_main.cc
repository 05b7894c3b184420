// main() for tests run under mpirun: MPI is initialized once around all tests,
// and only rank 0 prints gtest's progress (every rank still reports failures).

#include <gtest/gtest.h>

#include "comm/mpi_runtime.h"
#include "mpi_test_support.h"

int main(int argc, char** argv) {
  halorec::comm::MpiRuntime mpi(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int code = 0;
  {
    halorec::testing::MpiWorld world;
    if (world.comm().rank() != 0) {
      auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
      delete listeners.Release(listeners.default_result_printer());
      listeners.Append(new halorec::testing::FailurePrinter(world.comm().rank()));
    }
    code = RUN_ALL_TESTS();
  }
  return code;
}

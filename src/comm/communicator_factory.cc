#include "comm/communicator_factory.h"

#include "comm/mpi_communicator.h"
#include "core/check.h"
#ifdef HALOREC_WITH_NCCL
#include "comm/nccl/nccl_communicator.h"
#endif

namespace halorec::comm {

bool nccl_available() {
#ifdef HALOREC_WITH_NCCL
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Communicator> make_communicator(const std::string& backend, bool cuda) {
  if (backend == "mpi" || (backend == "auto" && !(cuda && nccl_available()))) {
    return std::make_unique<MpiCommunicator>();
  }
  if (backend == "nccl" || backend == "auto") {
#ifdef HALOREC_WITH_NCCL
    if (!cuda) HR_THROW(ConfigError, "comm.backend: nccl needs train.device cuda");
    return std::make_unique<NcclCommunicator>(MPI_COMM_WORLD);
#else
    HR_THROW(ConfigError, "comm.backend: nccl, but this build has no NCCL backend");
#endif
  }
  HR_THROW(ConfigError, "comm.backend: '{}' is not one of auto, mpi, nccl", backend);
}

}  // namespace halorec::comm

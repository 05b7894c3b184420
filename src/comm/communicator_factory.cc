#include "comm/communicator_factory.h"

#include <ATen/Context.h>

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

std::unique_ptr<Communicator> make_communicator(const std::string& backend, bool cuda,
                                                double timeout_s) {
  if (backend == "mpi" || (backend == "auto" && !(cuda && nccl_available()))) {
    auto c = std::make_unique<MpiCommunicator>();
    c->set_timeout(timeout_s);
    if (cuda) {
      const int64_t gpus = static_cast<int64_t>(at::getNumGPUs());
      if (gpus < 1) HR_THROW(ConfigError, "train.device: cuda, but no GPU is visible");
      c->set_device(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(c->local_rank() % gpus)));
    }
    return c;
  }
  if (backend == "nccl" || backend == "auto") {
#ifdef HALOREC_WITH_NCCL
    if (!cuda) HR_THROW(ConfigError, "comm.backend: nccl needs train.device cuda");
    return std::make_unique<NcclCommunicator>(MPI_COMM_WORLD, timeout_s);
#else
    HR_THROW(ConfigError, "comm.backend: nccl, but this build has no NCCL backend");
#endif
  }
  HR_THROW(ConfigError, "comm.backend: '{}' is not one of auto, mpi, nccl", backend);
}

}  // namespace halorec::comm

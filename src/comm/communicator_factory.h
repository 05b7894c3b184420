#pragma once
// Chooses and builds the communicator for a run.

#include <memory>
#include <string>

#include "comm/communicator.h"

namespace halorec::comm {

// `backend`: "mpi", "nccl", or "auto" (NCCL when built with it and `cuda`
// is true, else MPI). MPI must be initialized. ConfigError for an unknown or
// unavailable backend. With `cuda`, the rank's device is GPU local_rank: NCCL
// needs one GPU per rank (and says so); MPI shares GPUs round-robin
// (local_rank mod GPUs), so more ranks than GPUs work. `timeout_s`: see
// Communicator::set_timeout (comm.timeout_s).
std::unique_ptr<Communicator> make_communicator(const std::string& backend, bool cuda,
                                                double timeout_s = 600);

// Whether this build has the NCCL backend.
bool nccl_available();

}  // namespace halorec::comm

#pragma once
// Chooses and builds the communicator for a run.

#include <memory>
#include <string>

#include "comm/communicator.h"

namespace halorec::comm {

// `backend`: "mpi", "nccl", or "auto" (NCCL when built with it and `cuda`
// is true, else MPI). MPI must be initialized. ConfigError for an unknown or
// unavailable backend.
std::unique_ptr<Communicator> make_communicator(const std::string& backend, bool cuda);

// Whether this build has the NCCL backend.
bool nccl_available();

}  // namespace halorec::comm

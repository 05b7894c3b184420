#pragma once
// MPI_CHECK: throws CommError with the rank, MPI's message and the call site.

#include <mpi.h>

#include <string>

#include <fmt/format.h>

#include "core/error.h"

namespace halorec::comm {

std::string mpi_error_string(int code);

}  // namespace halorec::comm

#define MPI_CHECK(call, rank)                                                                  \
  do {                                                                                         \
    const int mpi_rc_ = (call);                                                                \
    if (mpi_rc_ != MPI_SUCCESS) {                                                              \
      throw ::halorec::CommError(fmt::format("[{}:{}] rank {}: {} failed: {}", __FILE__,       \
                                             __LINE__, (rank), #call,                          \
                                             ::halorec::comm::mpi_error_string(mpi_rc_)));    \
    }                                                                                          \
  } while (0)

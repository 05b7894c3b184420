#pragma once
// This rank's place on its node, from MPI's shared-memory split: the MPI and
// NCCL backends' local_rank() and local_size().

#include <mpi.h>

namespace halorec::comm {

struct NodePlace {
  int local_rank = 0;
  int local_size = 1;
};

NodePlace node_place(MPI_Comm comm, int rank);

}  // namespace halorec::comm

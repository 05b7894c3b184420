#include "comm/mpi_node.h"

#include "comm/mpi_check.h"

namespace halorec::comm {

NodePlace node_place(MPI_Comm comm, int rank) {
  MPI_Comm local;
  MPI_CHECK(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local), rank);
  NodePlace place;
  MPI_Comm_rank(local, &place.local_rank);
  MPI_Comm_size(local, &place.local_size);
  MPI_Comm_free(&local);
  return place;
}

}  // namespace halorec::comm

#pragma once
// Communicator over NCCL for CUDA tensors. Bootstrap: MPI gives rank, size
// and the node-local rank; the local rank picks the GPU; rank 0 makes the
// NCCL unique id and broadcasts it over MPI. Collectives run on an internal
// stream ordered after the compute stream by an event; the host then polls
// for completion and for NCCL's asynchronous errors against a deadline, and
// aborts the communicator (CommError) on error or timeout.

#include <mpi.h>

#include <memory>

#include "comm/communicator.h"

namespace halorec::comm {

class NcclCommunicator final : public Communicator {
 public:
  explicit NcclCommunicator(MPI_Comm parent, double timeout_seconds = 600.0);
  ~NcclCommunicator() override;

  int rank() const override;
  int size() const override;
  int local_rank() const override;
  int local_size() const override;
  std::string backend() const override { return "nccl"; }
  at::Device device() const override;

  void all_reduce(at::Tensor& t, ReduceOp op) override;
  at::Tensor all_gather_v(const at::Tensor& input,
                          std::vector<int64_t>* counts = nullptr) override;
  at::Tensor all_to_all_v(const at::Tensor& input, const std::vector<int64_t>& send_counts,
                          const std::vector<int64_t>& recv_counts) override;
  void broadcast(at::Tensor& t, int root) override;
  void barrier() override;
  void set_timeout(double seconds) override;
  double timeout() const override;
  // Ends the communicator at once (pending operations fail on every rank).
  void abort() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace halorec::comm

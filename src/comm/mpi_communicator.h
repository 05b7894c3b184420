#pragma once
// Communicator over MPI for CPU tensors. CUDA tensors are staged through host
// memory, so several ranks can share one GPU and clusters without NCCL work:
// give such a rank its GPU with set_device().
// MPI counts are int: messages beyond max_message_elements() elements (INT_MAX
// by default) are split into several messages.

#include <mpi.h>

#include <string>
#include <vector>

#include "comm/communicator.h"

namespace halorec::comm {

class MpiCommunicator final : public Communicator {
 public:
  // Duplicates `parent`, so HaloRec's traffic never mixes with other users of it.
  explicit MpiCommunicator(MPI_Comm parent = MPI_COMM_WORLD);
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  std::string backend() const override { return "mpi"; }
  // Where the rank computes: the CPU, or the GPU set_device() chose.
  at::Device device() const override { return device_; }
  void set_device(at::Device d) { device_ = d; }

  void all_reduce(at::Tensor& t, ReduceOp op) override;
  at::Tensor all_gather_v(const at::Tensor& input,
                          std::vector<int64_t>* counts = nullptr) override;
  at::Tensor all_to_all_v(const at::Tensor& input, const std::vector<int64_t>& send_counts,
                          const std::vector<int64_t>& recv_counts) override;
  void broadcast(at::Tensor& t, int root) override;
  void barrier() override;
  // Collectives are started non-blocking and polled against this deadline.
  void set_timeout(double seconds) override { timeout_ = seconds; }
  double timeout() const override { return timeout_; }

  MPI_Comm comm() const { return comm_; }
  // The node (host name) rank q runs on, gathered once at construction.
  const std::string& node_of(int q) const { return nodes_[static_cast<size_t>(q)]; }
  int64_t max_message_elements() const { return max_elements_; }
  // For tests: a small limit exercises the splitting of large messages.
  void set_max_message_elements(int64_t n);

 private:
  // Point-to-point exchange: send_elems[q] elements from send_ptr[q] to rank
  // q, recv_elems[q] into recv_ptr[q] from rank q, in messages of at most
  // max_message_elements() elements (empty blocks send nothing).
  void exchange(MPI_Datatype type, int64_t element_bytes, const std::vector<const char*>& send_ptr,
                const std::vector<int64_t>& send_elems, const std::vector<char*>& recv_ptr,
                const std::vector<int64_t>& recv_elems, const char* what);
  // Completes `requests` of the operation `what`, or throws CommError when the
  // timeout passes first, naming the peers (and their nodes) of the requests
  // still open when `peers` (one rank per request) is given, else every
  // other rank's node.
  void wait(std::vector<MPI_Request>& requests, const char* what,
            const std::vector<int>* peers = nullptr);
  // "node1 (ranks 0-1), node2 (ranks 2-3)": where the other ranks run.
  std::string other_nodes() const;

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
  int64_t max_elements_;
  std::vector<std::string> nodes_;  // host name of every rank
  int64_t spin_polls_ = 64;          // polls before a waiting rank yields its core
  double timeout_ = 600;
  at::Device device_{at::kCPU};
};

}  // namespace halorec::comm

#pragma once
// The one-rank communicator of a single process: every collective is the
// identity (a copy where the interface returns a new tensor). No MPI: a
// one-process export runs the model's forward pass through it without
// MPI_Init, and the comm tests get an in-process backend for quick unit tests.

#include "comm/communicator.h"

namespace halorec::comm {

class LocalCommunicator final : public Communicator {
 public:
  explicit LocalCommunicator(at::Device device = at::kCPU) : device_(device) {}

  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  std::string backend() const override { return "local"; }
  at::Device device() const override { return device_; }

  void all_reduce(at::Tensor& t, ReduceOp op) override;
  at::Tensor all_gather_v(const at::Tensor& input,
                          std::vector<int64_t>* counts = nullptr) override;
  at::Tensor all_to_all_v(const at::Tensor& input, const std::vector<int64_t>& send_counts,
                          const std::vector<int64_t>& recv_counts) override;
  void broadcast(at::Tensor& t, int root) override;
  void barrier() override {}
  void set_timeout(double seconds) override { timeout_ = seconds; }
  double timeout() const override { return timeout_; }

 private:
  at::Device device_;
  double timeout_ = 0;
};

}  // namespace halorec::comm

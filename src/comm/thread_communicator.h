#pragma once
// N ranks as threads of one process: the Communicator interface and its
// ordering contract over shared memory, so logic above the communicator
// (exchanges, gather plans, evaluation merges, checkpoint sharding,
// baselines) is tested with 2..N ranks in seconds under the `unit` label.
// Results equal the MPI backend's: all-reduce sums in rank order, -v
// operations keep rank order. Every operation checks that all ranks called
// the same one (CommError naming each rank's call otherwise), and a rank that
// fails ends the other ranks' waits with a CommError naming it: never a hang.

#include <functional>
#include <memory>

#include "comm/communicator.h"

namespace halorec::comm {

class ThreadWorld;

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(std::shared_ptr<ThreadWorld> world, int rank);
  ~ThreadCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override;
  int local_rank() const override;
  int local_size() const override;
  std::string backend() const override { return "threads"; }
  at::Device device() const override { return at::kCPU; }

  void all_reduce(at::Tensor& t, ReduceOp op) override;
  at::Tensor all_gather_v(const at::Tensor& input,
                          std::vector<int64_t>* counts = nullptr) override;
  at::Tensor all_to_all_v(const at::Tensor& input, const std::vector<int64_t>& send_counts,
                          const std::vector<int64_t>& recv_counts) override;
  void broadcast(at::Tensor& t, int root) override;
  void barrier() override;
  void set_timeout(double seconds) override { timeout_ = seconds; }
  double timeout() const override { return timeout_; }

 private:
  std::shared_ptr<ThreadWorld> world_;
  int rank_;
  double timeout_ = 0;
};

struct ThreadRanksOptions {
  int ranks_per_node = 0;  // local_size(); 0: all ranks on one node
  double timeout = 120;    // each communicator's timeout (0: wait forever)
};

// Runs body(comm, rank) on `ranks` threads, each with its own communicator
// of one world, and joins them. When a rank throws, the others' pending and
// later operations throw CommError naming it; then the first rank's own
// exception is rethrown here.
void run_ranks(int ranks, const std::function<void(Communicator&)>& body,
               const ThreadRanksOptions& options = {});

}  // namespace halorec::comm

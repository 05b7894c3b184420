#pragma once
// The one interface all traffic between ranks goes through. Backends: MPI
// (CPU tensors; CUDA tensors are staged through host memory), NCCL (CUDA
// tensors), and for one process: LocalCommunicator (one rank) and
// ThreadCommunicator (N ranks as threads, for tests). Counts and datatypes come from the tensors; row counts given to
// the -v operations are counts of rows along dimension 0.
//
// Every operation is collective: all ranks must call the same operations in
// the same order, with matching arguments (e.g. rank r's send_counts[q] equals
// rank q's recv_counts[r]).

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace halorec::comm {

enum class ReduceOp { kSum, kAvg, kMax };

class Communicator {
 public:
  virtual ~Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Rank and number of ranks on this node (from MPI's shared-memory split).
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;
  virtual std::string backend() const = 0;
  // Where tensors given to this communicator live (CPU for MPI, the rank's GPU
  // for NCCL); small bookkeeping tensors are made there.
  virtual at::Device device() const = 0;

  // In place: every rank ends with the reduction of all ranks' `t`.
  virtual void all_reduce(at::Tensor& t, ReduceOp op) = 0;
  // The rows of every rank's `input` concatenated in rank order; ranks may
  // contribute different row counts (also none). `counts` (optional) gets the
  // row count of each rank.
  virtual at::Tensor all_gather_v(const at::Tensor& input,
                                  std::vector<int64_t>* counts = nullptr) = 0;
  // `input` holds, in rank order, send_counts[q] rows for each rank q; the
  // result holds recv_counts[q] rows from each rank q, in rank order.
  virtual at::Tensor all_to_all_v(const at::Tensor& input,
                                  const std::vector<int64_t>& send_counts,
                                  const std::vector<int64_t>& recv_counts) = 0;
  // In place: every rank ends with root's `t` (same shape and dtype on all ranks).
  virtual void broadcast(at::Tensor& t, int root) = 0;
  virtual void barrier() = 0;

  // An operation that waits longer than this for the other ranks throws
  // CommError naming the rank and the operation (a rank stopped, hung or
  // died); the job then ends (run_or_abort_job). 0: wait forever.
  virtual void set_timeout(double seconds) = 0;
  virtual double timeout() const = 0;

  // Synchronizing rounds run so far: operations that waited on other ranks
  // (a message split into several counts each part). Between nodes every
  // round costs a network round trip, so the trainer reports them per step.
  int64_t rounds() const { return rounds_; }

 protected:
  Communicator() = default;
  int64_t rounds_ = 0;
};

const char* reduce_op_name(ReduceOp op);

// Lifts the timeout for a wait known to be long (other ranks waiting while
// rank 0 partitions the graph) and restores it afterwards.
class UnlimitedWait {
 public:
  explicit UnlimitedWait(Communicator& comm) : comm_(comm), saved_(comm.timeout()) {
    comm_.set_timeout(0);
  }
  ~UnlimitedWait() { comm_.set_timeout(saved_); }
  UnlimitedWait(const UnlimitedWait&) = delete;
  UnlimitedWait& operator=(const UnlimitedWait&) = delete;

 private:
  Communicator& comm_;
  double saved_;
};

}  // namespace halorec::comm

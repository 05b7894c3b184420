#include "comm/thread_communicator.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "comm/rows.h"
#include "core/check.h"

namespace halorec::comm {

namespace {

// What one rank brings to one operation.
struct Deposit {
  std::string call;             // the operation with what must match on every rank
  at::Tensor tensor;            // the rank's own copy
  std::vector<int64_t> counts;  // allToAllV: its send counts
};

std::string describe(const at::Tensor& t, bool rows_may_differ) {
  std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
  if (rows_may_differ && !shape.empty()) shape.erase(shape.begin());
  return fmt::format("{} [{}{}]", c10::toString(t.scalar_type()),
                     rows_may_differ ? "rows, " : "", fmt::join(shape, ", "));
}

}  // namespace

// The state all ranks of one world share: one round of deposits at a time.
class ThreadWorld {
 public:
  ThreadWorld(int size, int per_node)
      : size_(size), per_node_(per_node > 0 ? per_node : size), slots_(static_cast<size_t>(size)) {}

  int size() const { return size_; }
  int per_node() const { return per_node_; }

  // Deposits `mine` for this round; every rank's deposit once all arrived.
  std::shared_ptr<const std::vector<Deposit>> meet(int rank, Deposit mine, double timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    if (failed_) {
      HR_THROW(CommError, "rank {}: {} not run: {}", rank, mine.call, failure_);
    }
    const std::string call = mine.call;
    slots_[static_cast<size_t>(rank)] = std::move(mine);
    const uint64_t round = generation_;
    if (++arrived_ == size_) {
      for (const Deposit& d : slots_) {
        if (d.call == slots_[0].call) continue;
        std::vector<std::string> calls;
        for (int q = 0; q < size_; ++q) {
          calls.push_back(fmt::format("rank {}: {}", q, slots_[static_cast<size_t>(q)].call));
        }
        fail_locked(rank, fmt::format("ranks called different operations ({})",
                                      fmt::join(calls, "; ")));
        HR_THROW(CommError, "{}", failure_);
      }
      done_ = std::make_shared<const std::vector<Deposit>>(std::move(slots_));
      slots_ = std::vector<Deposit>(static_cast<size_t>(size_));
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
      return done_;
    }
    const auto ready = [&] { return generation_ != round || failed_; };
    if (timeout <= 0) {
      cv_.wait(lock, ready);
    } else if (!cv_.wait_for(lock, std::chrono::duration<double>(timeout), ready)) {
      std::vector<int> missing;
      for (int q = 0; q < size_; ++q) {
        if (slots_[static_cast<size_t>(q)].call.empty()) missing.push_back(q);
      }
      fail_locked(rank, fmt::format("rank {}: {} waited {:.0f} s for rank(s) {}: stopped, hung "
                                    "or died", rank, call, timeout, fmt::join(missing, ", ")));
      HR_THROW(CommError, "{}", failure_);
    }
    // A round completed before a failure still counts.
    if (generation_ != round) return done_;
    HR_THROW(CommError, "rank {}: {} ended: {}", rank, call, failure_);
  }

  // Ends every rank's current and later waits; the first failure is kept
  // (and the rank it came from).
  void fail(int rank, const std::string& why) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_locked(rank, fmt::format("rank {} failed: {}", rank, why));
  }

  int first_failed() {
    std::lock_guard<std::mutex> lock(mu_);
    return failed_rank_;
  }

 private:
  void fail_locked(int rank, const std::string& message) {
    if (failed_) return;
    failed_ = true;
    failed_rank_ = rank;
    failure_ = message;
    cv_.notify_all();
  }

  const int size_;
  const int per_node_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Deposit> slots_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
  std::shared_ptr<const std::vector<Deposit>> done_;
  bool failed_ = false;
  int failed_rank_ = -1;
  std::string failure_;
};

ThreadCommunicator::ThreadCommunicator(std::shared_ptr<ThreadWorld> world, int rank)
    : world_(std::move(world)), rank_(rank) {
  HR_CHECK(rank_ >= 0 && rank_ < world_->size(), "rank {} of a world of {}", rank_,
           world_->size());
}

ThreadCommunicator::~ThreadCommunicator() = default;

int ThreadCommunicator::size() const { return world_->size(); }
int ThreadCommunicator::local_rank() const { return rank_ % world_->per_node(); }
int ThreadCommunicator::local_size() const {
  const int node_start = rank_ - local_rank();
  return std::min(world_->per_node(), world_->size() - node_start);
}

void ThreadCommunicator::all_reduce(at::Tensor& t, ReduceOp op) {
  HR_CHECK(t.defined(), "all_reduce ({}) of an undefined tensor", reduce_op_name(op));
  if (op == ReduceOp::kAvg && !at::isFloatingType(t.scalar_type())) {
    HR_THROW(CommError, "rank {}: allReduce avg needs a floating-point tensor, got {}", rank_,
             c10::toString(t.scalar_type()));
  }
  ++rounds_;
  Deposit mine{fmt::format("allReduce({}) {}", reduce_op_name(op), describe(t, false)),
               t.detach().contiguous().clone(), {}};
  const auto all = world_->meet(rank_, std::move(mine), timeout_);
  // Rank order, as every rank sums: the same bits on every rank.
  at::Tensor acc = (*all)[0].tensor.clone();
  for (size_t q = 1; q < all->size(); ++q) {
    if (op == ReduceOp::kMax) {
      acc = at::maximum(acc, (*all)[q].tensor);
    } else {
      acc.add_((*all)[q].tensor);
    }
  }
  if (op == ReduceOp::kAvg) acc.div_(size());
  t.detach().copy_(acc);
}

at::Tensor ThreadCommunicator::all_gather_v(const at::Tensor& input, std::vector<int64_t>* counts) {
  elements_per_row(input, rank_);
  ++rounds_;
  Deposit mine{fmt::format("allGatherV {}", describe(input, true)),
               input.detach().contiguous().clone(), {}};
  const auto all = world_->meet(rank_, std::move(mine), timeout_);
  std::vector<at::Tensor> parts;
  std::vector<int64_t> rows;
  for (const Deposit& d : *all) {
    parts.push_back(d.tensor);
    rows.push_back(d.tensor.size(0));
  }
  if (counts != nullptr) *counts = rows;
  return at::cat(parts, 0);
}

at::Tensor ThreadCommunicator::all_to_all_v(const at::Tensor& input,
                                            const std::vector<int64_t>& send_counts,
                                            const std::vector<int64_t>& recv_counts) {
  check_all_to_all(input, send_counts, recv_counts, size(), rank_);
  ++rounds_;
  Deposit mine{fmt::format("allToAllV {}", describe(input, true)),
               input.detach().contiguous().clone(), send_counts};
  const auto all = world_->meet(rank_, std::move(mine), timeout_);
  std::vector<at::Tensor> parts;
  for (int q = 0; q < size(); ++q) {
    const Deposit& from = (*all)[static_cast<size_t>(q)];
    const int64_t sent = from.counts[static_cast<size_t>(rank_)];
    if (sent != recv_counts[static_cast<size_t>(q)]) {
      HR_THROW(CommError, "rank {}: allToAllV expects {} rows from rank {}, which sends {}", rank_,
               recv_counts[static_cast<size_t>(q)], q, sent);
    }
    int64_t offset = 0;
    for (int p = 0; p < rank_; ++p) offset += from.counts[static_cast<size_t>(p)];
    parts.push_back(from.tensor.slice(0, offset, offset + sent));
  }
  at::Tensor out = at::cat(parts, 0);
  HR_CHECK_EQ(out.size(0), total_rows(recv_counts));
  return out;
}

void ThreadCommunicator::broadcast(at::Tensor& t, int root) {
  if (root < 0 || root >= size()) HR_THROW(CommError, "rank {}: broadcast root {}", rank_, root);
  HR_CHECK(t.defined(), "broadcast of an undefined tensor");
  ++rounds_;
  Deposit mine{fmt::format("broadcast from rank {} {}", root, describe(t, false)),
               rank_ == root ? t.detach().contiguous().clone() : at::Tensor(), {}};
  const auto all = world_->meet(rank_, std::move(mine), timeout_);
  if (rank_ != root) t.detach().copy_((*all)[static_cast<size_t>(root)].tensor);
}

void ThreadCommunicator::barrier() {
  ++rounds_;
  world_->meet(rank_, Deposit{"barrier", {}, {}}, timeout_);
}

void run_ranks(int ranks, const std::function<void(Communicator&)>& body,
               const ThreadRanksOptions& options) {
  HR_CHECK(ranks >= 1, "run_ranks with {} ranks", ranks);
  auto world = std::make_shared<ThreadWorld>(ranks, options.ranks_per_node);
  std::vector<std::exception_ptr> errors(static_cast<size_t>(ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back([&, r] {
      try {
        ThreadCommunicator comm(world, r);
        comm.set_timeout(options.timeout);
        body(comm);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = std::current_exception();
        world->fail(r, e.what());
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
        world->fail(r, "an exception that is not a std::exception");
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const int first = world->first_failed();
  if (first >= 0 && errors[static_cast<size_t>(first)]) {
    std::rethrow_exception(errors[static_cast<size_t>(first)]);
  }
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace halorec::comm

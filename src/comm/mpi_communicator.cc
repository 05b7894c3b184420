#include "comm/mpi_communicator.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "comm/mpi_check.h"
#include "comm/mpi_node.h"
#include "comm/mpi_runtime.h"
#include "comm/rows.h"
#include "core/check.h"

namespace halorec::comm {

std::string mpi_error_string(int code) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, buf, &len) != MPI_SUCCESS) return fmt::format("MPI error {}", code);
  return std::string(buf, static_cast<size_t>(len));
}

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kAvg: return "avg";
    default: return "max";
  }
}

namespace {

constexpr int kTag = 0x4852;

// The MPI type that moves (and, where reducible, reduces) a tensor's elements.
MPI_Datatype mpi_type(at::ScalarType t, bool for_reduction, int rank) {
  switch (t) {
    case at::kFloat: return MPI_FLOAT;
    case at::kDouble: return MPI_DOUBLE;
    case at::kLong: return MPI_INT64_T;
    case at::kInt: return MPI_INT32_T;
    case at::kChar: return MPI_INT8_T;
    case at::kByte:
    case at::kBool: return MPI_UINT8_T;
    case at::kHalf:
    case at::kBFloat16:
      if (!for_reduction) return MPI_UINT16_T;
      break;
    default: break;
  }
  HR_THROW(CommError, "rank {}: mpi does not support {} of {} tensors", rank,
           for_reduction ? "allReduce" : "communication", c10::toString(t));
}

// A contiguous CPU tensor holding `t`'s values: `t` itself where possible,
// else a copy (CUDA tensors are staged through pinned host memory).
at::Tensor host_buffer(const at::Tensor& t) {
  if (t.is_cuda()) {
    return t.to(at::TensorOptions().device(at::kCPU).pinned_memory(true), false, true)
        .contiguous();
  }
  return t.contiguous();
}

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm parent) : max_elements_(INT_MAX) {
  MPI_CHECK(MPI_Comm_dup(parent, &comm_), -1);
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_CHECK(MPI_Comm_rank(comm_, &rank_), -1);
  MPI_CHECK(MPI_Comm_size(comm_, &size_), rank_);
  const NodePlace place = node_place(comm_, rank_);
  local_rank_ = place.local_rank;
  local_size_ = place.local_size;
  // Every rank's node, for messages that name where a silent rank runs.
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int len = 0;
  MPI_Get_processor_name(name, &len);
  constexpr int kNameBytes = 64;
  std::vector<char> mine(kNameBytes, '\0'), all(static_cast<size_t>(kNameBytes) * size_);
  std::memcpy(mine.data(), name, static_cast<size_t>(std::min(len, kNameBytes - 1)));
  MPI_CHECK(MPI_Allgather(mine.data(), kNameBytes, MPI_CHAR, all.data(), kNameBytes, MPI_CHAR,
                          comm_),
            rank_);
  for (int q = 0; q < size_; ++q) nodes_.emplace_back(all.data() + q * kNameBytes);
  // HALOREC_COMM_SPIN=1 (a benchmark aid): never yield, as before the
  // yielding wait (bench/multinode.py measures both).
  const char* spin = std::getenv("HALOREC_COMM_SPIN");
  if (spin != nullptr && std::string(spin) == "1") spin_polls_ = INT64_MAX;
}

std::string MpiCommunicator::other_nodes() const {
  // Ranks grouped by node, in order of first appearance.
  std::vector<std::string> names;
  std::vector<std::vector<int>> ranks;
  for (int q = 0; q < size_; ++q) {
    if (q == rank_) continue;
    const auto it = std::find(names.begin(), names.end(), nodes_[q]);
    if (it == names.end()) {
      names.push_back(nodes_[q]);
      ranks.push_back({q});
    } else {
      ranks[static_cast<size_t>(it - names.begin())].push_back(q);
    }
  }
  std::string out;
  for (size_t k = 0; k < names.size(); ++k) {
    const std::vector<int>& r = ranks[k];
    const bool run = r.back() - r.front() + 1 == static_cast<int>(r.size());
    std::string list;
    if (r.size() == 1) {
      list = fmt::format("rank {}", r[0]);
    } else if (run) {
      list = fmt::format("ranks {}-{}", r.front(), r.back());
    } else {
      list = fmt::format("ranks {}", fmt::join(r, ","));
    }
    out += fmt::format("{}{} ({})", k > 0 ? ", " : "", names[k], list);
  }
  return out;
}

MpiCommunicator::~MpiCommunicator() {
  if (comm_ != MPI_COMM_NULL && MpiRuntime::initialized()) MPI_Comm_free(&comm_);
}

void MpiCommunicator::set_max_message_elements(int64_t n) {
  HR_CHECK(n >= 1 && n <= INT_MAX, "max message elements {}", n);
  max_elements_ = n;
}


void MpiCommunicator::wait(std::vector<MPI_Request>& requests, const char* what,
                           const std::vector<int>* peers) {
  if (requests.empty()) return;
  ++rounds_;
  const int n = static_cast<int>(requests.size());
  if (timeout_ <= 0) {
    MPI_CHECK(MPI_Waitall(n, requests.data(), MPI_STATUSES_IGNORE), rank_);
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration<double>(timeout_);
  for (int64_t polls = 0;; ++polls) {
    int done = 0;
    MPI_CHECK(MPI_Testall(n, requests.data(), &done, MPI_STATUSES_IGNORE), rank_);
    if (done) return;
    // Not here yet: let the kernel run. Between nodes a message arrives
    // through the kernel's network stack (softirq work, ksoftirqd), which a
    // rank spinning on every core starves; MPI's own busy wait does not
    // yield unless the node is oversubscribed. Measured between network
    // namespaces (docs/benchmarks.md): 112 ms steps without, 8 ms with.
    if (polls >= spin_polls_) std::this_thread::yield();
    if ((polls & 255) == 255 && std::chrono::steady_clock::now() > deadline) {
      std::string silent;
      if (peers != nullptr) {
        // The peers whose messages are still open: the ones not answering.
        std::vector<int> open;
        for (size_t k = 0; k < requests.size(); ++k) {
          int flag = 1;
          if (requests[k] != MPI_REQUEST_NULL) MPI_Test(&requests[k], &flag, MPI_STATUS_IGNORE);
          const int q = (*peers)[k];
          if (!flag && std::find(open.begin(), open.end(), q) == open.end()) open.push_back(q);
        }
        std::sort(open.begin(), open.end());
        for (int q : open) {
          silent += fmt::format("{}rank {} on {}", silent.empty() ? "" : ", ", q, nodes_[q]);
        }
      }
      if (!silent.empty()) {
        HR_THROW(CommError,
                 "rank {} on {}: mpi {} waited {:.0f} s (comm.timeout_s) for {}: stopped, hung "
                 "or died, or its node is unreachable",
                 rank_, nodes_[rank_], what, timeout_, silent);
      }
      HR_THROW(CommError,
               "rank {} on {}: mpi {} waited {:.0f} s (comm.timeout_s) for the {} other rank(s) "
               "on {}: one of them stopped, hung or died, or its node is unreachable",
               rank_, nodes_[rank_], what, timeout_, size_ - 1, other_nodes());
    }
  }
}

void MpiCommunicator::all_reduce(at::Tensor& t, ReduceOp op) {
  if (op == ReduceOp::kAvg && !at::isFloatingType(t.scalar_type())) {
    HR_THROW(CommError, "rank {}: allReduce avg needs a floating-point tensor, got {}", rank_,
             c10::toString(t.scalar_type()));
  }
  const MPI_Datatype type = mpi_type(t.scalar_type(), true, rank_);
  at::Tensor buf = host_buffer(t);
  const MPI_Op mpi_op = op == ReduceOp::kMax ? MPI_MAX : MPI_SUM;
  char* base = static_cast<char*>(buf.data_ptr());
  const int64_t n = buf.numel();
  for (int64_t off = 0; off < n; off += max_elements_) {
    const int count = static_cast<int>(std::min(max_elements_, n - off));
    std::vector<MPI_Request> request(1);
    MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, base + off * buf.element_size(), count, type, mpi_op,
                             comm_, request.data()),
              rank_);
    wait(request, "allReduce");
  }
  if (op == ReduceOp::kAvg) buf.div_(size_);
  if (!buf.is_same(t)) t.copy_(buf);
}

void MpiCommunicator::exchange(MPI_Datatype type, int64_t element_bytes,
                               const std::vector<const char*>& send_ptr,
                               const std::vector<int64_t>& send_elems,
                               const std::vector<char*>& recv_ptr,
                               const std::vector<int64_t>& recv_elems, const char* what) {
  HR_CHECK_EQ(send_elems[rank_], recv_elems[rank_]);
  std::vector<MPI_Request> requests;
  std::vector<int> peers;  // of each request
  for (int q = 0; q < size_; ++q) {
    if (q == rank_) continue;
    for (int64_t off = 0; off < recv_elems[q]; off += max_elements_) {
      requests.emplace_back();
      peers.push_back(q);
      const int count = static_cast<int>(std::min(max_elements_, recv_elems[q] - off));
      MPI_CHECK(MPI_Irecv(recv_ptr[q] + off * element_bytes, count, type, q, kTag, comm_,
                          &requests.back()),
                rank_);
    }
  }
  for (int q = 0; q < size_; ++q) {
    if (q == rank_) continue;
    for (int64_t off = 0; off < send_elems[q]; off += max_elements_) {
      requests.emplace_back();
      peers.push_back(q);
      const int count = static_cast<int>(std::min(max_elements_, send_elems[q] - off));
      MPI_CHECK(MPI_Isend(send_ptr[q] + off * element_bytes, count, type, q, kTag, comm_,
                          &requests.back()),
                rank_);
    }
  }
  if (send_elems[rank_] > 0) {
    std::memcpy(recv_ptr[rank_], send_ptr[rank_],
                static_cast<size_t>(send_elems[rank_] * element_bytes));
  }
  wait(requests, what, &peers);
}

at::Tensor MpiCommunicator::all_to_all_v(const at::Tensor& input,
                                         const std::vector<int64_t>& send_counts,
                                         const std::vector<int64_t>& recv_counts) {
  check_all_to_all(input, send_counts, recv_counts, size_, rank_);
  const int64_t row = elements_per_row(input, rank_);
  const MPI_Datatype type = mpi_type(input.scalar_type(), false, rank_);
  const at::Tensor in = host_buffer(input);
  at::Tensor out = at::empty(shape_with_rows(input, total_rows(recv_counts)),
                             in.options().pinned_memory(input.is_cuda()));
  const int64_t eb = in.element_size();
  std::vector<const char*> send_ptr(size_);
  std::vector<char*> recv_ptr(size_);
  std::vector<int64_t> send_elems(size_), recv_elems(size_);
  int64_t s = 0, r = 0;
  for (int q = 0; q < size_; ++q) {
    send_ptr[q] = static_cast<const char*>(in.data_ptr()) + s * row * eb;
    recv_ptr[q] = static_cast<char*>(out.data_ptr()) + r * row * eb;
    send_elems[q] = send_counts[q] * row;
    recv_elems[q] = recv_counts[q] * row;
    s += send_counts[q];
    r += recv_counts[q];
  }
  exchange(type, eb, send_ptr, send_elems, recv_ptr, recv_elems, "allToAllV");
  return input.is_cuda() ? out.to(input.device()) : out;
}

at::Tensor MpiCommunicator::all_gather_v(const at::Tensor& input, std::vector<int64_t>* counts) {
  const int64_t row = elements_per_row(input, rank_);
  std::vector<int64_t> rows(size_);
  int64_t mine = input.size(0);
  {
    std::vector<MPI_Request> request(1);
    MPI_CHECK(MPI_Iallgather(&mine, 1, MPI_INT64_T, rows.data(), 1, MPI_INT64_T, comm_,
                             request.data()),
              rank_);
    wait(request, "allGatherV (counts)");
  }
  const MPI_Datatype type = mpi_type(input.scalar_type(), false, rank_);
  const at::Tensor in = host_buffer(input);
  at::Tensor out = at::empty(shape_with_rows(input, total_rows(rows)),
                             in.options().pinned_memory(input.is_cuda()));
  const int64_t eb = in.element_size();
  std::vector<const char*> send_ptr(size_, static_cast<const char*>(in.data_ptr()));
  std::vector<char*> recv_ptr(size_);
  std::vector<int64_t> send_elems(size_, mine * row), recv_elems(size_);
  int64_t r = 0;
  for (int q = 0; q < size_; ++q) {
    recv_ptr[q] = static_cast<char*>(out.data_ptr()) + r * row * eb;
    recv_elems[q] = rows[q] * row;
    r += rows[q];
  }
  exchange(type, eb, send_ptr, send_elems, recv_ptr, recv_elems, "allGatherV");
  if (counts != nullptr) *counts = rows;
  return input.is_cuda() ? out.to(input.device()) : out;
}

void MpiCommunicator::broadcast(at::Tensor& t, int root) {
  if (root < 0 || root >= size_) HR_THROW(CommError, "rank {}: broadcast root {}", rank_, root);
  const MPI_Datatype type = mpi_type(t.scalar_type(), false, rank_);
  at::Tensor buf = host_buffer(t);
  char* base = static_cast<char*>(buf.data_ptr());
  const int64_t n = buf.numel();
  for (int64_t off = 0; off < n; off += max_elements_) {
    const int count = static_cast<int>(std::min(max_elements_, n - off));
    std::vector<MPI_Request> request(1);
    MPI_CHECK(MPI_Ibcast(base + off * buf.element_size(), count, type, root, comm_,
                         request.data()),
              rank_);
    wait(request, "broadcast");
  }
  if (!buf.is_same(t)) t.copy_(buf);
}

void MpiCommunicator::barrier() {
  std::vector<MPI_Request> request(1);
  MPI_CHECK(MPI_Ibarrier(comm_, request.data()), rank_);
  wait(request, "barrier");
}

}  // namespace halorec::comm

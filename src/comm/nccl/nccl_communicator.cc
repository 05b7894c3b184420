#include "comm/nccl/nccl_communicator.h"

#include <ATen/ATen.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <chrono>
#include <thread>

#include "comm/mpi_check.h"
#include "comm/mpi_node.h"
#include "comm/rows.h"
#include "core/check.h"
#ifdef HALOREC_TORCH_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

#define CUDA_CHECK(call, rank)                                                              \
  do {                                                                                      \
    const cudaError_t cuda_rc_ = (call);                                                    \
    if (cuda_rc_ != cudaSuccess) {                                                          \
      throw ::halorec::CommError(fmt::format("[{}:{}] rank {}: {} failed: {}", __FILE__,    \
                                             __LINE__, (rank), #call,                       \
                                             cudaGetErrorString(cuda_rc_)));                \
    }                                                                                       \
  } while (0)

#define NCCL_CHECK(call, rank)                                                               \
  do {                                                                                       \
    const ncclResult_t nccl_rc_ = (call);                                                    \
    if (nccl_rc_ != ncclSuccess) {                                                           \
      throw ::halorec::CommError(fmt::format("[{}:{}] rank {}: {} failed: {} (NCCL {})",     \
                                             __FILE__, __LINE__, (rank), #call,              \
                                             ncclGetErrorString(nccl_rc_), NCCL_VERSION_CODE)); \
    }                                                                                        \
  } while (0)

namespace halorec::comm {

struct NcclCommunicator::Impl {
  MPI_Comm mpi = MPI_COMM_NULL;
  int rank = 0, size = 1, local_rank = 0, local_size = 1, device = 0;
  ncclComm_t nccl = nullptr;
  cudaStream_t stream = nullptr;
  cudaEvent_t ready = nullptr, done = nullptr;
  double timeout_seconds = 600;
  bool aborted = false;

  cudaStream_t compute_stream() const {
#ifdef HALOREC_TORCH_CUDA
    return c10::cuda::getCurrentCUDAStream(device).stream();
#else
    return cudaStreamLegacy;
#endif
  }

  void check(const at::Tensor& t, const char* what) const {
    if (!t.is_cuda() || t.device().index() != device) {
      HR_THROW(CommError, "rank {}: nccl {} needs a tensor on cuda:{}, got {}", rank, what,
               device, t.device().str());
    }
  }

  // Orders our stream after the work queued so far on the compute stream.
  void begin() {
    CUDA_CHECK(cudaEventRecord(ready, compute_stream()), rank);
    CUDA_CHECK(cudaStreamWaitEvent(stream, ready, 0), rank);
  }

  // Waits for our stream, watching for NCCL errors and the deadline.
  void finish(const char* what) {
    CUDA_CHECK(cudaEventRecord(done, stream), rank);
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration<double>(timeout_seconds);
    while (true) {
      const cudaError_t q = cudaEventQuery(done);
      if (q == cudaSuccess) break;
      if (q != cudaErrorNotReady) CUDA_CHECK(q, rank);
      ncclResult_t async = ncclSuccess;
      NCCL_CHECK(ncclCommGetAsyncError(nccl, &async), rank);
      if (async != ncclSuccess) {
        abort_comm();
        HR_THROW(CommError, "rank {}: nccl {} failed: {}; communicator aborted", rank, what,
                 ncclGetErrorString(async));
      }
      if (timeout_seconds > 0 && std::chrono::steady_clock::now() > deadline) {
        abort_comm();
        HR_THROW(CommError,
                 "rank {}: nccl {} waited {:.0f} s (comm.timeout_s) for the {} other rank(s): one "
                 "of them stopped, hung or died; communicator aborted",
                 rank, what, timeout_seconds, size - 1);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    CUDA_CHECK(cudaStreamWaitEvent(compute_stream(), done, 0), rank);
  }

  void abort_comm() noexcept {
    if (nccl != nullptr && !aborted) {
      ncclCommAbort(nccl);
      aborted = true;
    }
  }
};

namespace {

ncclDataType_t nccl_type(at::ScalarType t, int rank) {
  switch (t) {
    case at::kFloat: return ncclFloat32;
    case at::kDouble: return ncclFloat64;
    case at::kLong: return ncclInt64;
    case at::kInt: return ncclInt32;
    case at::kChar: return ncclInt8;
    case at::kByte:
    case at::kBool: return ncclUint8;
    case at::kHalf: return ncclFloat16;
    case at::kBFloat16: return ncclBfloat16;
    default: break;
  }
  HR_THROW(CommError, "rank {}: nccl does not support {} tensors", rank, c10::toString(t));
}

}  // namespace

NcclCommunicator::NcclCommunicator(MPI_Comm parent, double timeout_seconds)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.timeout_seconds = timeout_seconds;
  MPI_CHECK(MPI_Comm_dup(parent, &m.mpi), -1);
  MPI_Comm_rank(m.mpi, &m.rank);
  MPI_Comm_size(m.mpi, &m.size);
  const NodePlace place = node_place(m.mpi, m.rank);
  m.local_rank = place.local_rank;
  m.local_size = place.local_size;
  int devices = 0;
  CUDA_CHECK(cudaGetDeviceCount(&devices), m.rank);
  if (m.local_rank >= devices) {
    HR_THROW(CommError,
             "rank {}: local rank {} but {} GPU(s) visible; nccl needs one GPU per rank (use "
             "comm.backend: mpi to share GPUs)",
             m.rank, m.local_rank, devices);
  }
  m.device = m.local_rank;
  CUDA_CHECK(cudaSetDevice(m.device), m.rank);
  ncclUniqueId id;
  if (m.rank == 0) NCCL_CHECK(ncclGetUniqueId(&id), m.rank);
  MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, m.mpi), m.rank);
  NCCL_CHECK(ncclCommInitRank(&m.nccl, m.size, id, m.rank), m.rank);
  CUDA_CHECK(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking), m.rank);
  CUDA_CHECK(cudaEventCreateWithFlags(&m.ready, cudaEventDisableTiming), m.rank);
  CUDA_CHECK(cudaEventCreateWithFlags(&m.done, cudaEventDisableTiming), m.rank);
}

NcclCommunicator::~NcclCommunicator() {
  Impl& m = *impl_;
  if (m.nccl != nullptr && !m.aborted) ncclCommDestroy(m.nccl);
  if (m.done != nullptr) cudaEventDestroy(m.done);
  if (m.ready != nullptr) cudaEventDestroy(m.ready);
  if (m.stream != nullptr) cudaStreamDestroy(m.stream);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (m.mpi != MPI_COMM_NULL && !finalized) MPI_Comm_free(&m.mpi);
}

int NcclCommunicator::rank() const { return impl_->rank; }
int NcclCommunicator::size() const { return impl_->size; }
int NcclCommunicator::local_rank() const { return impl_->local_rank; }
int NcclCommunicator::local_size() const { return impl_->local_size; }
at::Device NcclCommunicator::device() const {
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(impl_->device));
}
void NcclCommunicator::abort() noexcept { impl_->abort_comm(); }

void NcclCommunicator::set_timeout(double seconds) { impl_->timeout_seconds = seconds; }
double NcclCommunicator::timeout() const { return impl_->timeout_seconds; }

void NcclCommunicator::all_reduce(at::Tensor& t, ReduceOp op) {
  ++rounds_;
  Impl& m = *impl_;
  m.check(t, "allReduce");
  at::Tensor buf = t.contiguous();
  const ncclRedOp_t nop = op == ReduceOp::kSum ? ncclSum : op == ReduceOp::kAvg ? ncclAvg : ncclMax;
  m.begin();
  NCCL_CHECK(ncclAllReduce(buf.data_ptr(), buf.data_ptr(), static_cast<size_t>(buf.numel()),
                           nccl_type(buf.scalar_type(), m.rank), nop, m.nccl, m.stream),
             m.rank);
  m.finish("allReduce");
  if (!buf.is_same(t)) t.copy_(buf);
}

at::Tensor NcclCommunicator::all_to_all_v(const at::Tensor& input,
                                          const std::vector<int64_t>& send_counts,
                                          const std::vector<int64_t>& recv_counts) {
  ++rounds_;
  Impl& m = *impl_;
  m.check(input, "allToAllV");
  check_all_to_all(input, send_counts, recv_counts, m.size, m.rank);
  const at::Tensor in = input.contiguous();
  const int64_t row = elements_per_row(in, m.rank);
  const std::vector<int64_t> shape = shape_with_rows(in, total_rows(recv_counts));
  at::Tensor out = at::empty(shape, in.options());
  const ncclDataType_t type = nccl_type(in.scalar_type(), m.rank);
  const int64_t eb = in.element_size();
  const char* send = static_cast<const char*>(in.data_ptr());
  char* recv = static_cast<char*>(out.data_ptr());
  m.begin();
  NCCL_CHECK(ncclGroupStart(), m.rank);
  int64_t s = 0, r = 0;
  for (int q = 0; q < m.size; ++q) {
    const size_t ns = static_cast<size_t>(send_counts[q] * row);
    const size_t nr = static_cast<size_t>(recv_counts[q] * row);
    if (q == m.rank) {
      if (ns > 0) {
        CUDA_CHECK(cudaMemcpyAsync(recv + r * row * eb, send + s * row * eb, ns * eb,
                                   cudaMemcpyDeviceToDevice, m.stream),
                   m.rank);
      }
    } else {
      if (ns > 0) NCCL_CHECK(ncclSend(send + s * row * eb, ns, type, q, m.nccl, m.stream), m.rank);
      if (nr > 0) NCCL_CHECK(ncclRecv(recv + r * row * eb, nr, type, q, m.nccl, m.stream), m.rank);
    }
    s += send_counts[q];
    r += recv_counts[q];
  }
  NCCL_CHECK(ncclGroupEnd(), m.rank);
  m.finish("allToAllV");
  return out;
}

at::Tensor NcclCommunicator::all_gather_v(const at::Tensor& input, std::vector<int64_t>* counts) {
  ++rounds_;
  Impl& m = *impl_;
  m.check(input, "allGatherV");
  at::Tensor mine = at::full({1}, input.size(0), input.options().dtype(at::kLong));
  at::Tensor all = at::empty({m.size}, mine.options());
  m.begin();
  NCCL_CHECK(ncclAllGather(mine.data_ptr(), all.data_ptr(), 1, ncclInt64, m.nccl, m.stream),
             m.rank);
  m.finish("allGatherV counts");
  const at::Tensor host = all.cpu();
  std::vector<int64_t> rows(host.data_ptr<int64_t>(), host.data_ptr<int64_t>() + m.size);
  // Every rank sends its one block to every rank.
  const at::Tensor in = input.contiguous();
  const int64_t row = elements_per_row(in, m.rank);
  const std::vector<int64_t> shape = shape_with_rows(in, total_rows(rows));
  at::Tensor out = at::empty(shape, in.options());
  const ncclDataType_t type = nccl_type(in.scalar_type(), m.rank);
  const int64_t eb = in.element_size();
  const size_t mine_elems = static_cast<size_t>(in.size(0) * row);
  char* recv = static_cast<char*>(out.data_ptr());
  m.begin();
  NCCL_CHECK(ncclGroupStart(), m.rank);
  int64_t offset = 0;
  for (int q = 0; q < m.size; ++q) {
    const size_t nr = static_cast<size_t>(rows[q] * row);
    if (q == m.rank) {
      if (nr > 0) {
        CUDA_CHECK(cudaMemcpyAsync(recv + offset * row * eb, in.data_ptr(), nr * eb,
                                   cudaMemcpyDeviceToDevice, m.stream),
                   m.rank);
      }
    } else {
      if (mine_elems > 0) NCCL_CHECK(ncclSend(in.data_ptr(), mine_elems, type, q, m.nccl, m.stream), m.rank);
      if (nr > 0) NCCL_CHECK(ncclRecv(recv + offset * row * eb, nr, type, q, m.nccl, m.stream), m.rank);
    }
    offset += rows[q];
  }
  NCCL_CHECK(ncclGroupEnd(), m.rank);
  m.finish("allGatherV");
  if (counts != nullptr) *counts = rows;
  return out;
}

void NcclCommunicator::broadcast(at::Tensor& t, int root) {
  ++rounds_;
  Impl& m = *impl_;
  m.check(t, "broadcast");
  at::Tensor buf = t.contiguous();
  m.begin();
  NCCL_CHECK(ncclBroadcast(buf.data_ptr(), buf.data_ptr(), static_cast<size_t>(buf.numel()),
                           nccl_type(buf.scalar_type(), m.rank), root, m.nccl, m.stream),
             m.rank);
  m.finish("broadcast");
  if (!buf.is_same(t)) t.copy_(buf);
}

void NcclCommunicator::barrier() {
  ++rounds_;
  Impl& m = *impl_;
  at::Tensor one = at::ones({1}, at::TensorOptions().device(at::kCUDA, m.device).dtype(at::kInt));
  all_reduce(one, ReduceOp::kSum);
}

}  // namespace halorec::comm

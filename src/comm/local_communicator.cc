#include "comm/local_communicator.h"

#include <ATen/ATen.h>

#include "core/check.h"

namespace halorec::comm {

void LocalCommunicator::all_reduce(at::Tensor& t, ReduceOp op) {
  HR_CHECK(t.defined(), "all_reduce ({}) of an undefined tensor", reduce_op_name(op));
  // Sum, mean and maximum over one rank are the tensor itself.
}

at::Tensor LocalCommunicator::all_gather_v(const at::Tensor& input, std::vector<int64_t>* counts) {
  const int64_t rows = input.dim() == 0 ? 1 : input.size(0);
  if (counts != nullptr) *counts = {rows};
  return input.contiguous().clone();
}

at::Tensor LocalCommunicator::all_to_all_v(const at::Tensor& input,
                                           const std::vector<int64_t>& send_counts,
                                           const std::vector<int64_t>& recv_counts) {
  const int64_t rows = input.dim() == 0 ? 1 : input.size(0);
  HR_CHECK(send_counts.size() == 1 && recv_counts.size() == 1,
           "all_to_all_v on one rank: {} send and {} receive counts, expected 1",
           send_counts.size(), recv_counts.size());
  HR_CHECK(send_counts[0] == rows && recv_counts[0] == rows,
           "all_to_all_v on one rank: sends {} rows, receives {}, input has {}", send_counts[0],
           recv_counts[0], rows);
  return input.contiguous().clone();
}

void LocalCommunicator::broadcast(at::Tensor& t, int root) {
  HR_CHECK(root == 0, "broadcast from rank {} on a one-rank communicator", root);
  HR_CHECK(t.defined(), "broadcast of an undefined tensor");
}

}  // namespace halorec::comm

#pragma once
// Row arithmetic every backend's -v operations share: tensors are exchanged
// as rows along dimension 0 (communicator.h), so sizes are rows times the
// elements of one row.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace halorec::comm {

// Elements of one row of `t`; CommError naming `rank` when `t` has no rows
// (a scalar).
int64_t elements_per_row(const at::Tensor& t, int rank);
// `t`'s shape with `rows` rows.
std::vector<int64_t> shape_with_rows(const at::Tensor& t, int64_t rows);
int64_t total_rows(const std::vector<int64_t>& counts);
// allToAllV's contract on one rank of `size`: one send and one receive count
// per rank, and send counts that add up to the input's rows. CommError
// naming `rank` otherwise.
void check_all_to_all(const at::Tensor& input, const std::vector<int64_t>& send_counts,
                      const std::vector<int64_t>& recv_counts, int size, int rank);

}  // namespace halorec::comm

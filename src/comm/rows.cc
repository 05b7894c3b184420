#include "comm/rows.h"

#include "core/check.h"

namespace halorec::comm {

int64_t elements_per_row(const at::Tensor& t, int rank) {
  if (t.dim() < 1) {
    HR_THROW(CommError, "rank {}: row-wise operations need a tensor of rank >= 1", rank);
  }
  int64_t n = 1;
  for (int64_t d = 1; d < t.dim(); ++d) n *= t.size(d);
  return n;
}

std::vector<int64_t> shape_with_rows(const at::Tensor& t, int64_t rows) {
  std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
  shape[0] = rows;
  return shape;
}

int64_t total_rows(const std::vector<int64_t>& counts) {
  int64_t s = 0;
  for (int64_t x : counts) s += x;
  return s;
}

void check_all_to_all(const at::Tensor& input, const std::vector<int64_t>& send_counts,
                      const std::vector<int64_t>& recv_counts, int size, int rank) {
  if (static_cast<int>(send_counts.size()) != size ||
      static_cast<int>(recv_counts.size()) != size) {
    HR_THROW(CommError, "rank {}: allToAllV needs {} send and receive counts, got {} and {}",
             rank, size, send_counts.size(), recv_counts.size());
  }
  elements_per_row(input, rank);
  if (total_rows(send_counts) != input.size(0)) {
    HR_THROW(CommError, "rank {}: allToAllV send counts add up to {}, the input has {} rows",
             rank, total_rows(send_counts), input.size(0));
  }
}

}  // namespace halorec::comm

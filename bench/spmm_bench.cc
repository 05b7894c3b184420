// The training hot loop, the sparse-dense product over the normalized
// adjacency, beside ATen's sparse product on the same matrix, in one run.
//   build/bin/spmm_bench DATASET.h5 [dim] [threads]

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include <fmt/format.h>

#include "data/dataset.h"
#include "graph/csr.h"
#include "model/local_graph.h"

namespace {
template <typename F>
double median_ms(int reps, F&& f) {
  std::vector<double> t;
  f();
  for (int k = 0; k < reps; ++k) {
    const auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::nth_element(t.begin(), t.begin() + reps / 2, t.end());
  return t[reps / 2];
}
}  // namespace

int main(int argc, char** argv) {
  using namespace halorec;
  if (argc < 2) {
    fmt::print(stderr, "usage: spmm_bench DATASET.h5 [dim] [threads]\n");
    return 2;
  }
  const int64_t dim = argc > 2 ? std::stoll(argv[2]) : 64;
  at::set_num_threads(argc > 3 ? std::stoi(argv[3]) : 2);
  const data::Dataset d = data::read_dataset(argv[1]);
  const graph::Csr a = graph::normalized_adjacency(d);
  const model::LocalGraph g = model::make_local_graph(a.num_rows, a.indptr, a.col, a.value, true);
  const at::Tensor x = at::randn({a.num_rows, dim});
  const double ours = median_ms(20, [&] {
    model::spmm_forward(g.indptr, g.col, g.val, g.num_rows, x);
  });
  std::vector<int64_t> rows;
  for (int64_t r = 0; r < a.num_rows; ++r)
    for (int64_t e = a.indptr[r]; e < a.indptr[r + 1]; ++e) rows.push_back(r);
  const at::Tensor coo = at::sparse_coo_tensor(
      at::stack({at::tensor(rows, at::kLong), g.col}), g.val, {a.num_rows, a.num_rows}).coalesce();
  const double aten = median_ms(20, [&] { at::mm(coo, x); });
  const at::Tensor ref = at::mm(coo, x);
  const at::Tensor mine = model::spmm_forward(g.indptr, g.col, g.val, g.num_rows, x);
  fmt::print("{{\"nodes\": {}, \"nnz\": {}, \"dim\": {}, \"threads\": {}, \"halorec_ms\": {:.2f}, "
             "\"aten_sparse_mm_ms\": {:.2f}, \"ratio\": {:.3f}, \"max_abs_diff\": {:.2e}}}\n",
             a.num_rows, a.nnz(), dim, at::get_num_threads(), ours, aten, ours / aten,
             (ref - mine).abs().max().item<float>());
  return 0;
}

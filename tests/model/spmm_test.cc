#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <vector>

#include "core/counter_rng.h"
#include "model/local_graph.h"

namespace halorec::model {
namespace {

// A random rectangular CSR (rows with 0 to 40 nonzeros, some repeated
// columns) and its dense equivalent.
struct Csr {
  int64_t rows = 0, cols = 0;
  std::vector<int64_t> indptr{0}, col;
  std::vector<float> val;
  at::Tensor dense(at::ScalarType t) const {
    at::Tensor a = at::zeros({rows, cols}, at::kDouble);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t e = indptr[static_cast<size_t>(r)]; e < indptr[static_cast<size_t>(r) + 1]; ++e)
        a[r][col[static_cast<size_t>(e)]] += static_cast<double>(val[static_cast<size_t>(e)]);
    return a.to(t);
  }
};

Csr random_csr(int64_t rows, int64_t cols, uint64_t seed) {
  CounterRng rng(seed);
  Csr c;
  c.rows = rows;
  c.cols = cols;
  for (int64_t r = 0; r < rows; ++r) {
    const uint64_t n = rng.below(41);
    for (uint64_t k = 0; k < n; ++k) {
      c.col.push_back(static_cast<int64_t>(rng.below(static_cast<uint64_t>(cols))));
      c.val.push_back(static_cast<float>(rng.below(1000)) / 500.0f - 1.0f);
    }
    c.indptr.push_back(static_cast<int64_t>(c.col.size()));
  }
  return c;
}

// Every kernel path: fixed widths 16 and 32, blocks of 128 (128, 256, 512)
// and of 64 (64, 192), and any other width (1, 100, 200).
TEST(Spmm, EveryWidthEqualsTheDenseProduct) {
  const Csr c = random_csr(300, 170, 11);
  const LocalGraph g = make_local_graph(c.cols, c.indptr, c.col, c.val, false);
  for (at::ScalarType t : {at::kFloat, at::kDouble}) {
    const at::Tensor a = c.dense(t);
    for (int64_t d : {1, 16, 32, 64, 100, 128, 192, 200, 256, 512}) {
      const at::Tensor x = at::randn({c.cols, d}, at::TensorOptions().dtype(t));
      const at::Tensor y = spmm_forward(g.indptr, g.col, g.val, g.num_rows, x);
      ASSERT_EQ(y.sizes(), (std::vector<int64_t>{c.rows, d}));
      const double tol = t == at::kFloat ? 1e-4 : 1e-10;
      EXPECT_TRUE(at::allclose(y, at::mm(a, x), tol, tol)) << "d " << d << " " << t;
    }
  }
}

TEST(Spmm, BackwardIsTheTransposeProduct) {
  const Csr c = random_csr(120, 90, 12);
  const LocalGraph g = make_local_graph(c.cols, c.indptr, c.col, c.val, false);
  const at::Tensor a = c.dense(at::kFloat);
  for (int64_t d : {64, 256, 200}) {
    const at::Tensor x = at::randn({c.cols, d}).set_requires_grad(true);
    const at::Tensor w = at::randn({c.rows, d});
    (spmm(g, x) * w).sum().backward();
    EXPECT_TRUE(at::allclose(x.grad(), at::mm(a.t(), w), 1e-4, 1e-4)) << "d " << d;
  }
}

}  // namespace
}  // namespace halorec::model

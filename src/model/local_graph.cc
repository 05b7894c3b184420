#include "model/local_graph.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include "core/check.h"
#include "core/counting_sort.h"

namespace halorec::model {

namespace {

// One output row per iteration; the inner loop runs over the contiguous
// feature dimension. Compiled for AVX2 and a generic target, chosen at run
// time. D > 0 fixes a column block's width at compile time (its accumulators
// stay in registers); a row of `stride` = d columns is d / D such blocks, each
// summed over the row's nonzeros in turn (the row's few nonzeros stay in L1),
// so d = 256 or 512 runs the register path too. D == 0 handles any d.
constexpr int64_t kPrefetch = 8;

template <typename T, int D>
__attribute__((target_clones("avx2", "default"))) void csr_rows(
    const int64_t* __restrict indptr, const int64_t* __restrict col, const float* __restrict val,
    const T* __restrict x, T* __restrict y, int64_t d, int64_t begin, int64_t end) {
  if constexpr (D > 0) {
    const int64_t blocks = d / D;
    for (int64_t r = begin; r < end; ++r) {
      const int64_t first = indptr[r];
      const int64_t last = indptr[r + 1];
      for (int64_t c = 0; c < blocks; ++c) {
        const T* __restrict xc = x + c * D;
        T acc[D] = {};
        for (int64_t e = first; e < last; ++e) {
          // Rows are fetched at random: ask for one a few nonzeros ahead.
          if (e + kPrefetch < last) {
            const char* ahead = reinterpret_cast<const char*>(xc + col[e + kPrefetch] * d);
            for (int b = 0; b < static_cast<int>(D * sizeof(T)); b += 64)
              __builtin_prefetch(ahead + b);
          }
          const T v = static_cast<T>(val[e]);
          const T* __restrict in = xc + col[e] * d;
          for (int j = 0; j < D; ++j) acc[j] += v * in[j];
        }
        T* __restrict out = y + r * d + c * D;
        for (int j = 0; j < D; ++j) out[j] = acc[j];
      }
    }
  } else {
    for (int64_t r = begin; r < end; ++r) {
      T* __restrict out = y + r * d;
      for (int64_t j = 0; j < d; ++j) out[j] = 0;
      for (int64_t e = indptr[r]; e < indptr[r + 1]; ++e) {
        const T v = static_cast<T>(val[e]);
        const T* __restrict in = x + col[e] * d;
        for (int64_t j = 0; j < d; ++j) out[j] += v * in[j];
      }
    }
  }
}

// Columns [c0, c0 + D) of rows [begin, end): the operand's slice of D
// columns is what a pass over all rows reads, so it can stay in cache.
template <typename T, int D>
__attribute__((target_clones("avx2", "default"))) void csr_column_block(
    const int64_t* __restrict indptr, const int64_t* __restrict col, const float* __restrict val,
    const T* __restrict x, T* __restrict y, int64_t d, int64_t c0, int64_t begin, int64_t end) {
  const T* __restrict xc = x + c0;
  for (int64_t r = begin; r < end; ++r) {
    const int64_t first = indptr[r];
    const int64_t last = indptr[r + 1];
    T acc[D] = {};
    for (int64_t e = first; e < last; ++e) {
      if (e + kPrefetch < last) {
        const char* ahead = reinterpret_cast<const char*>(xc + col[e + kPrefetch] * d);
        for (int b = 0; b < static_cast<int>(D * sizeof(T)); b += 64) __builtin_prefetch(ahead + b);
      }
      const T v = static_cast<T>(val[e]);
      const T* __restrict in = xc + col[e] * d;
      for (int j = 0; j < D; ++j) acc[j] += v * in[j];
    }
    T* __restrict out = y + r * d + c0;
    for (int j = 0; j < D; ++j) out[j] = acc[j];
  }
}

// Operands this wide (a graph filter's block of user signals, a subspace of
// singular vectors: hundreds of columns over every item) outgrow the cache
// row by row; a pass per slice of 256 bytes of columns keeps the slice the
// pass reads in L2/L3 instead. Each output is the same sum in the same order
// as the row-by-row path.
constexpr int64_t kWideBytes = 1024;

template <typename T>
void csr_product(const int64_t* ip, const int64_t* cp, const float* vp, const T* xp, T* yp,
                 int64_t d, int64_t num_rows, int64_t grain) {
  constexpr int kSlice = static_cast<int>(256 / sizeof(T));
  if (d * static_cast<int64_t>(sizeof(T)) >= kWideBytes && d % kSlice == 0) {
    for (int64_t c0 = 0; c0 < d; c0 += kSlice) {
      at::parallel_for(0, num_rows, grain, [&](int64_t b, int64_t e) {
        csr_column_block<T, kSlice>(ip, cp, vp, xp, yp, d, c0, b, e);
      });
    }
    return;
  }
  at::parallel_for(0, num_rows, grain, [&](int64_t b, int64_t e) {
    if (d == 16) {
      csr_rows<T, 16>(ip, cp, vp, xp, yp, d, b, e);
    } else if (d == 32) {
      csr_rows<T, 32>(ip, cp, vp, xp, yp, d, b, e);
    } else if (d % 128 == 0) {
      csr_rows<T, 128>(ip, cp, vp, xp, yp, d, b, e);
    } else if (d % 64 == 0) {
      csr_rows<T, 64>(ip, cp, vp, xp, yp, d, b, e);
    } else {
      csr_rows<T, 0>(ip, cp, vp, xp, yp, d, b, e);
    }
  });
}

at::Tensor cuda_spmm(const at::Tensor& indptr, const at::Tensor& col, const at::Tensor& val,
                     int64_t num_rows, const at::Tensor& x) {
  const at::Tensor csr =
      at::sparse_csr_tensor(indptr, col, val.to(x.scalar_type()), {num_rows, x.size(0)},
                            x.options().layout(at::kSparseCsr));
  return at::mm(csr, x);
}

class SpmmFunction : public torch::autograd::Function<SpmmFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            const LocalGraph* g) {
    ctx->saved_data["graph"] = reinterpret_cast<int64_t>(g);  // outlives the autograd graph
    return spmm_forward(g->indptr, g->col, g->val, g->num_rows, x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto* g = reinterpret_cast<const LocalGraph*>(ctx->saved_data["graph"].toInt());
    HR_CHECK(g->symmetric || g->t_indptr.defined(), "spmm backward over a forward-only graph");
    const at::Tensor grad = grads[0].contiguous();
    const at::Tensor gx = g->symmetric
                              ? spmm_forward(g->indptr, g->col, g->val, g->num_rows, grad)
                              : spmm_forward(g->t_indptr, g->t_col, g->t_val, g->num_cols, grad);
    return {gx, at::Tensor()};
  }
};

}  // namespace

at::Tensor spmm_forward(const at::Tensor& indptr, const at::Tensor& col, const at::Tensor& val,
                        int64_t num_rows, const at::Tensor& x_in) {
  const at::Tensor x = x_in.contiguous();
  if (x.is_cuda()) return cuda_spmm(indptr, col, val, num_rows, x);
  HR_CHECK(x.dim() == 2, "spmm needs a matrix, got {} dims", x.dim());
  const int64_t d = x.size(1);
  at::Tensor y = at::empty({num_rows, d}, x.options());
  const int64_t* ip = indptr.data_ptr<int64_t>();
  const int64_t* cp = col.data_ptr<int64_t>();
  const float* vp = val.data_ptr<float>();
  // Rows cost their nonzeros: a grain of ~32k nonzeros worth of rows.
  const int64_t nnz = num_rows == 0 ? 0 : ip[num_rows];
  const int64_t grain = std::max<int64_t>(1, num_rows * 32768 / std::max<int64_t>(1, nnz));
  if (x.scalar_type() == at::kFloat) {
    csr_product<float>(ip, cp, vp, x.data_ptr<float>(), y.data_ptr<float>(), d, num_rows, grain);
  } else if (x.scalar_type() == at::kDouble) {
    csr_product<double>(ip, cp, vp, x.data_ptr<double>(), y.data_ptr<double>(), d, num_rows, grain);
  } else {
    HR_THROW(InternalError, "spmm supports float and double, got {}",
             c10::toString(x.scalar_type()));
  }
  return y;
}

int64_t Blocks::edges() const {
  int64_t n = 0;
  for (const LocalGraph& g : graphs) n += g.col.numel();
  return n;
}

at::Tensor spmm(const LocalGraph& g, const at::Tensor& x) {
  return SpmmFunction::apply(x, &g);
}

LocalGraph make_local_graph(int64_t num_cols, const std::vector<int64_t>& indptr,
                            const std::vector<int64_t>& col, const std::vector<float>& val,
                            bool symmetric, bool with_transpose) {
  LocalGraph g;
  g.num_rows = static_cast<int64_t>(indptr.size()) - 1;
  g.num_cols = num_cols;
  g.symmetric = symmetric;
  g.indptr = at::tensor(indptr, at::kLong);
  g.col = at::tensor(col, at::kLong);
  g.val = at::tensor(at::ArrayRef<float>(val), at::kFloat);
  if (symmetric) {
    HR_CHECK_EQ(g.num_rows, num_cols);
    return g;
  }
  if (!with_transpose) return g;
  // Transpose by counting sort over columns; rows within a column stay ascending.
  CountingSort by_col(num_cols);
  for (int64_t c : col) by_col.count(c);
  by_col.finish_counts();
  std::vector<int64_t> t_col(col.size());
  std::vector<float> t_val(col.size());
  for (int64_t r = 0; r < g.num_rows; ++r) {
    for (int64_t e = indptr[r]; e < indptr[r + 1]; ++e) {
      const int64_t p = by_col.place(col[e]);
      t_col[p] = r;
      t_val[p] = val[e];
    }
  }
  g.t_indptr = at::tensor(by_col.offsets(), at::kLong);
  g.t_col = at::tensor(t_col, at::kLong);
  g.t_val = at::tensor(at::ArrayRef<float>(t_val), at::kFloat);
  return g;
}

}  // namespace halorec::model

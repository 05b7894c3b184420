#pragma once
// A shard's normalized adjacency as tensors, and the sparse-dense product
// over it. Rows are the owned nodes, columns the local index space
// [owned; halo]. The transpose (for backward) is kept as its own CSR, except
// where the block is square and symmetric (one rank), where it is reused.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace halorec::model {

struct LocalGraph {
  int64_t num_rows = 0;  // owned nodes
  int64_t num_cols = 0;  // owned + halo
  at::Tensor indptr, col, val;        // CSR (int64, int64, float32)
  at::Tensor t_indptr, t_col, t_val;  // CSR of the transpose
  bool symmetric = false;
};

// A step's sampled neighbourhood (train/neighborhood.h, train.propagation
// minibatch): node sets S_0 ⊇ S_1 ⊇ .. ⊇ S_L, each a prefix of the one
// before, S_l = nodes[0, sizes[l]); graphs[l-1] (rows S_l, columns S_{l-1})
// maps layer l-1 on S_{l-1} to layer l on S_l. The targets are S_L.
struct Blocks {
  std::vector<int64_t> nodes;  // global ids of S_0
  std::vector<int64_t> sizes;  // |S_0| .. |S_L|
  std::vector<LocalGraph> graphs;
  int64_t edges() const;  // nonzeros over all graphs
};

// `indptr`, `col`, `val` as in a shard; `symmetric` when the block equals its
// transpose (a single rank: no halo). `with_transpose` false leaves out the
// transpose: the graph then serves forward products only (no autograd
// backward through it), at half the memory.
LocalGraph make_local_graph(int64_t num_cols, const std::vector<int64_t>& indptr,
                            const std::vector<int64_t>& col, const std::vector<float>& val,
                            bool symmetric, bool with_transpose = true);

// y = A x, differentiable in x: x [num_cols, d] -> y [num_rows, d]; float or
// double, CPU (parallel over rows) or CUDA (through ATen's sparse ops).
at::Tensor spmm(const LocalGraph& g, const at::Tensor& x);

// The product without autograd, into a new tensor.
at::Tensor spmm_forward(const at::Tensor& indptr, const at::Tensor& col, const at::Tensor& val,
                        int64_t num_rows, const at::Tensor& x);

}  // namespace halorec::model

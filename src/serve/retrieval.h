#pragma once
// The candidate side of recommending (internal to serve/): each user's seen
// items, the model's vectors as tensors, and the best `pool` items of query
// rows, by the exact blocked product or through an ANN index.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "serve/ann_index.h"
#include "serve/filter_scoring.h"
#include "serve/model_file.h"

namespace halorec::serve {

// Each user's items, sorted (CSR by user row). Empty: nothing is seen.
struct Seen {
  std::vector<int64_t> indptr, items;
  bool empty() const { return indptr.empty(); }
  const int64_t* begin(int64_t u) const { return items.data() + indptr[static_cast<size_t>(u)]; }
  const int64_t* end(int64_t u) const { return items.data() + indptr[static_cast<size_t>(u) + 1]; }
  int64_t count(int64_t u) const { return empty() ? 0 : end(u) - begin(u); }
};

// Each user's items in `x` (CSR over `num_users` rows).
Seen by_user(const data::Interactions& x, int64_t num_users);

// The model's vectors as tensors (views of ModelFile's buffers, no copy), and
// the items' unit vectors (cosine similarities: mmr, explanations, ILD).
struct Views {
  at::Tensor users, items, items_unit;
};
Views views_of(const ModelFile& m);

// Where candidates come from for one call.
struct CandidateSource {
  const Views* views = nullptr;
  const Seen* seen = nullptr;         // dropped from every list (may be empty)
  const AnnIndex* index = nullptr;    // null: the exact blocked product
  std::vector<int64_t> row_of_label;  // index label (file row) -> item row; empty: the same
  // A graph filter's model: rows are scored by the filter over their users'
  // train rows (queries unused).
  const FilterScorer* filter = nullptr;
};

// The best `pool` unseen items of each query row (queries: one vector per
// row; row_user: the user whose seen items the row leaves out), best first,
// with their scores. The ANN path searches rows in chunks of similar seen
// counts (FAISS takes one k per call), each asking for pool + the chunk's
// largest seen count, so lists are as long as the exact path's without every
// row paying for the heaviest user's over-fetch.
void best_candidates(const CandidateSource& source, const at::Tensor& queries,
                     const std::vector<int64_t>& row_user, int64_t pool,
                     std::vector<std::vector<int64_t>>* items,
                     std::vector<std::vector<float>>* values);

}  // namespace halorec::serve

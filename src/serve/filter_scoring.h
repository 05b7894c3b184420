#pragma once
// Serving a graph filter's model.h5 (model_file.h's filter group): the
// filter's scores for the model's users or for any history, in one process,
// by the same program `halorec baseline` scores with (model/graph_filter.h);
// a trained hybrid's are mixed with its vectors' as training mixed them.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "model/graph_filter.h"
#include "serve/model_file.h"

namespace halorec::serve {

class FilterScorer {
 public:
  // `m` must be a filter (m.is_filter()).
  explicit FilterScorer(const ModelFile& m);
  // Scores [n, I] of binary histories given as CSR rows over item rows. A
  // hybrid (m.is_hybrid()) mixes in the dot products of `users` ([n, dim]:
  // the histories' folded vectors) with the item vectors.
  at::Tensor scores(const std::vector<int64_t>& indptr, const std::vector<int64_t>& items,
                    const at::Tensor& users = {}) const;
  // Scores [n, I] of the model's user rows, from their train rows (and a
  // hybrid's user vectors).
  at::Tensor user_scores(const std::vector<int64_t>& rows) const;

 private:
  const ModelFile& m_;
  model::GraphFilter g_;
  int64_t users_ = 0, items_ = 0;
  at::Tensor rip_, rcol_, rval_, tip_, tcol_, tval_;
  at::Tensor item_vectors_;  // a hybrid's [I, dim]
};

}  // namespace halorec::serve

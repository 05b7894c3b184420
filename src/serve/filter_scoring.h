#pragma once
// Serving a graph filter's model.h5 (model_file.h's filter group): the
// filter's scores for the model's users or for any history, in one process,
// by the same program `halorec baseline` scores with (model/graph_filter.h).

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
  // Scores [n, I] of binary histories given as CSR rows over item rows.
  at::Tensor scores(const std::vector<int64_t>& indptr, const std::vector<int64_t>& items) const;
  // Scores [n, I] of the model's user rows, from their train rows.
  at::Tensor user_scores(const std::vector<int64_t>& rows) const;

 private:
  const ModelFile& m_;
  model::GraphFilter g_;
  int64_t users_ = 0, items_ = 0;
  at::Tensor rip_, rcol_, rval_, tip_, tcol_, tval_;
};

}  // namespace halorec::serve

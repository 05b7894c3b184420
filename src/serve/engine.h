#pragma once
// The ranking engine behind recommend and evaluate --strategy (internal to
// serve/): options and dataset checked against the model once, query rows
// built per strategy (the user's vector, or each interest's medoid), the
// candidates retrieved (retrieval.h), and the strategy applied
// (strategies.h).

#include <cstdint>
#include <memory>
#include <vector>

#include "serve/recommend.h"
#include "serve/retrieval.h"

namespace halorec::serve {

struct Engine {
  const ModelFile& m;
  RecommendOptions options;
  Seen seen;
  Views views;
  CandidateSource source;
  std::unique_ptr<FilterScorer> filter;  // a graph filter's model
};

// UsageError on bad options, InputError when options.seen is not the model's
// dataset. The engine views `m`'s buffers: `m` must outlive it.
std::unique_ptr<Engine> make_engine(const ModelFile& m, const RecommendOptions& options);

// Lists for user rows, best first; `scores` (optional) gets each item's score
// under the strategy's ranking (the dot product with the user's or the
// interest's vector); `interest` (optional) gets, for multi, the interest
// each came from.
std::vector<std::vector<int64_t>> rank_lists(const Engine& engine, const std::vector<int64_t>& rows,
                                             std::vector<std::vector<float>>* scores = nullptr,
                                             std::vector<std::vector<int32_t>>* interest = nullptr);

}  // namespace halorec::serve

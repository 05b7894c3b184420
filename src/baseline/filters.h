#pragma once
// Graph filters over the normalized train matrix R~ = D_u^-1/2 R D_i^-1/2 as
// baselines: gfcf, bspm and chebycf (docs/baselines.md), fitted over every
// rank's users by model/filter_fit.h, with the options' settings, memory
// estimate and scorers.

#include <cstdint>
#include <memory>
#include <vector>

#include "baseline/baseline.h"
#include "baseline/local.h"
#include "comm/communicator.h"
#include "model/filter_fit.h"
#include "model/graph_filter.h"
#include "train/evaluator.h"

namespace halorec::baseline {

// The method's filter settings (o.method gfcf, bspm or chebycf), with the
// method's defaults where an option is unset.
model::FilterSettings filter_settings(const Options& o);
int64_t filter_rank(const Options& o);

// Bytes one rank will hold for a filter method (graph, low-pass basis,
// scoring blocks), from its users' nonzeros, the items and the rank count.
struct FilterMemory {
  double graph = 0, basis = 0, scoring = 0;  // graph: with the process itself
  double total() const { return graph + basis + scoring; }
};
FilterMemory filter_memory(const Local& l, const Options& o, int ranks);

// A filter method (o.method gfcf, bspm or chebycf) fitted on every rank's
// users: R~ over them and, with `basis` (an ideal term in any settings it
// will score), the low-pass basis of `rank` vectors. Collective to
// build, and each scorer is collective (every rank calls it as often).
class FilterFit {
 public:
  FilterFit(Local& l, const Options& o, comm::Communicator& comm, Result& res, bool basis);
  // The filter with settings `s` (the basis when s.alpha > 0).
  model::GraphFilter filter(const model::FilterSettings& s) const;
  // The scorer of the users ids[b..e) (`ids` must outlive it).
  train::Evaluator::ScoreFn scorer(const model::FilterSettings& s,
                                   const std::vector<int64_t>& ids) const;
  // The ideal low-pass term as the rank's users' and all items' vectors
  // (into l's vectors, for --out).
  void low_pass_vectors(const model::FilterSettings& s);

 private:
  Local& l_;
  std::shared_ptr<model::FilterFit> fit_;
};

}  // namespace halorec::baseline

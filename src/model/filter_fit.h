#pragma once
// A graph filter (model/graph_filter.h) fitted over every rank's users: each
// rank holds its users' rows of R~ = D_u^-1/2 R D_i^-1/2; P = R~^T R~ is
// applied with sparse products only (a block of signals goes through each
// rank's R~ and back, the terms summed over ranks), and the ideal term's
// basis V (top right singular vectors of R~) comes from subspace iteration.
// Nothing item x item is formed. One fit for `halorec baseline` and for the
// filter part of a trained hybrid (model.filter).

#include <ATen/core/Tensor.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "model/graph_filter.h"

namespace halorec::model {

// A rank's users' binary train rows, with the transpose.
struct FilterRows {
  std::vector<int64_t> users;   // global ids, ascending
  std::vector<int64_t> indptr;  // over users: their train items, ascending
  std::vector<int64_t> items;
  std::vector<int64_t> t_indptr;  // for each item, the local rows of its users
  std::vector<int64_t> t_rows;
  int64_t num_items = 0;

  int64_t row_of(int64_t user) const {
    return std::lower_bound(users.begin(), users.end(), user) - users.begin();
  }
  // Fills the rows of `users` (ascending; set first, with num_items) from
  // records sorted by (user, item), an item named twice counted once;
  // records of other users are skipped.
  void build(const std::vector<int64_t>& rec_user, const std::vector<int64_t>& rec_item);
};

// Users (all ranks) of each item, double [I]: the column sums of R. Collective.
at::Tensor item_counts(const FilterRows& rows, comm::Communicator& comm);

// The subspace iteration finding the basis: `rank` vectors, `oversample`
// extra, `power_iters` products with P, a start drawn from `seed`.
struct BasisOptions {
  int64_t rank = 0;
  int64_t oversample = 64;
  int64_t power_iters = 24;
  uint64_t seed = 2020;
};

// Per-method defaults (the published Gowalla settings): the basis rank
// (gfcf 256, bspm 448, chebycf 512) and the ideal term's weight (0.3, 0.2, 0.2).
int64_t default_filter_rank(const std::string& kind);
double default_filter_alpha(const std::string& kind);

class FilterPropagation;

class FilterFit {
 public:
  // Collective. `rows` must outlive the fit. With `basis`, the low-pass basis
  // of min(rank, I) vectors (needed by any settings with alpha > 0); `info`
  // gets sigma_max and sigma_rank, R~'s largest and rank-th singular values.
  FilterFit(const FilterRows& rows, comm::Communicator& comm, const BasisOptions* basis,
            std::map<std::string, double>* info = nullptr);
  // The filter with settings `s` (the basis when s.alpha > 0).
  GraphFilter filter(const FilterSettings& s) const;
  // Scores [e - b, I] of the users ids[b..e) (global ids of this rank's
  // rows; b == e on a rank with no users left). Collective: every rank calls
  // it as often.
  at::Tensor scores(const GraphFilter& g, const std::vector<int64_t>& ids, int64_t b,
                    int64_t e) const;
  const at::Tensor& basis() const { return basis_; }  // [I, rank] float; undefined without
  const at::Tensor& counts() const;                   // item_counts(rows)

 private:
  const FilterRows& rows_;
  std::shared_ptr<FilterPropagation> f_;
  at::Tensor basis_;
};

}  // namespace halorec::model

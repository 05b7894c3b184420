#pragma once
// A rank's part of the train matrix for the baselines: its users' rows (a
// partition's owned users, or a contiguous range of user ids), binary, with
// the transpose, and the shard the evaluator reads.

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "model/filter_fit.h"
#include "partition/shard.h"

namespace halorec::baseline {

// The rows (users, indptr, items and the transpose) are the filters' own
// (model/filter_fit.h).
struct Local : model::FilterRows {
  partition::Shard shard;

  // Vectors of every user of this rank (rows of `users`) and of every item,
  // for --out: filled by the methods that have them.
  at::Tensor user_vectors, item_vectors;
};

// `parts` "" takes users [rU/P, (r+1)U/P); else the partition's owned users
// (checked against the dataset and the rank count: UsageError). With
// `validation` > 0, that share of each user's train records is carved into
// shard.validation first (data::carve_validation, keyed by `seed`: the same
// records whatever the rank count), and the rows hold the rest.
Local load_local(const std::string& dataset, const std::string& parts, comm::Communicator& comm,
                 double validation = 0, uint64_t seed = 0);

at::Tensor long_tensor(const std::vector<int64_t>& v);

using model::item_counts;

}  // namespace halorec::baseline

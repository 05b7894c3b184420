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
#include "partition/shard.h"

namespace halorec::baseline {

struct Local {
  partition::Shard shard;
  std::vector<int64_t> users;   // global ids, ascending
  std::vector<int64_t> indptr;  // over users: their train items, ascending
  std::vector<int64_t> items;
  // The transpose: for each item, the local rows of its users.
  std::vector<int64_t> t_indptr;
  std::vector<int64_t> t_rows;
  int64_t num_items = 0;

  // Vectors of every user of this rank (rows of `users`) and of every item,
  // for --out: filled by the methods that have them.
  at::Tensor user_vectors, item_vectors;

  int64_t row_of(int64_t user) const {
    return std::lower_bound(users.begin(), users.end(), user) - users.begin();
  }
};

// `parts` "" takes users [rU/P, (r+1)U/P); else the partition's owned users
// (checked against the dataset and the rank count: UsageError). With
// `validation` > 0, that share of each user's train records is carved into
// shard.validation first (data::carve_validation, keyed by `seed`: the same
// records whatever the rank count), and the rows hold the rest.
Local load_local(const std::string& dataset, const std::string& parts, comm::Communicator& comm,
                 double validation = 0, uint64_t seed = 0);

at::Tensor long_tensor(const std::vector<int64_t>& v);

// Users (all ranks) of each item, double [I]: the column sums of R. Collective.
at::Tensor item_counts(const Local& l, comm::Communicator& comm);

}  // namespace halorec::baseline

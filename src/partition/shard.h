#pragma once
// What one rank holds (docs/formats.md, "parts/"). Local index space: owned
// nodes first (sorted by global id), then halo nodes (sorted by owner rank,
// then global id), so the rows received from each peer land in one block.

#include <cstdint>
#include <vector>

#include "data/interactions.h"

namespace halorec::partition {

struct Shard {
  int32_t rank = 0;
  int32_t num_parts = 1;
  int64_t num_users = 0;  // global counts
  int64_t num_items = 0;

  std::vector<int64_t> owned;             // global node ids
  std::vector<int64_t> halo;              // global node ids
  std::vector<int32_t> halo_owner;        // owner rank of each halo node
  std::vector<int64_t> halo_owner_local;  // its local index at the owner

  // Adjacency rows of the owned nodes over local column indices, with the
  // globally normalized values: row k of this CSR equals row owned[k] of the
  // global normalized adjacency.
  std::vector<int64_t> indptr;
  std::vector<int64_t> col;
  std::vector<float> value;

  // To peer q this rank sends owned rows send_index[send_offsets[q] ..
  // send_offsets[q+1]) (local indices); from peer q it receives halo rows
  // recv_offsets[q] .. recv_offsets[q+1] (positions within `halo`), in the
  // same order as q sends them.
  std::vector<int64_t> send_offsets;
  std::vector<int64_t> send_index;
  std::vector<int64_t> recv_offsets;

  // Train and test interactions of the owned users: global user ids and item
  // ids (0..I-1), sorted by (user, item). With a validation carve
  // (data.validation) `validation` holds the records carved from the
  // dataset's train side; `train` (and the adjacency) keep the rest.
  data::Interactions train;
  data::Interactions validation;
  data::Interactions test;

  int64_t num_owned() const { return static_cast<int64_t>(owned.size()); }
  int64_t num_halo() const { return static_cast<int64_t>(halo.size()); }
  int64_t nnz() const { return static_cast<int64_t>(col.size()); }
  // Global id of a local index (owned or halo).
  int64_t global_of(int64_t local) const {
    return local < num_owned() ? owned[static_cast<size_t>(local)]
                               : halo[static_cast<size_t>(local - num_owned())];
  }
};

}  // namespace halorec::partition

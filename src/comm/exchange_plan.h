#pragma once
// Which local rows a rank sends to each peer and how many rows it receives
// from each, for one row exchange (a halo exchange, or a remote gather).

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "comm/communicator.h"

namespace halorec::comm {

struct ExchangePlan {
  at::Tensor send_index;             // int64: local rows to send, peer after peer
  std::vector<int64_t> send_counts;  // rows to each peer
  std::vector<int64_t> recv_counts;  // rows from each peer, in rank order
  int64_t num_recv() const;
};

// From a shard's plan arrays: send_index[send_offsets[q] .. send_offsets[q+1])
// goes to q; recv_offsets[q+1] - recv_offsets[q] rows come from q.
ExchangePlan make_exchange_plan(const std::vector<int64_t>& send_index,
                                const std::vector<int64_t>& send_offsets,
                                const std::vector<int64_t>& recv_offsets,
                                const at::TensorOptions& index_options);

// A plan to fetch rows by global id from their owners.
struct GatherPlan {
  ExchangePlan exchange;  // owners send the requested rows
  at::Tensor inverse;     // int64: row of the exchange result for each requested id
};

// Collective. `ids` (int64, any order, repeats allowed) are global ids this
// rank needs; `owner_of` (int32, indexed by global id) gives their owners;
// `owned` (int64, ascending) lists the global ids this rank owns, whose
// position is the local row. Throws CommError if a peer asks for an id this
// rank does not own.
GatherPlan make_gather_plan(Communicator& comm, const at::Tensor& ids,
                            const at::Tensor& owner_of, const at::Tensor& owned);

}  // namespace halorec::comm

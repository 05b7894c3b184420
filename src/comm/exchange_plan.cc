#include "comm/exchange_plan.h"

#include <ATen/ATen.h>

#include "core/check.h"

namespace halorec::comm {

int64_t ExchangePlan::num_recv() const {
  int64_t n = 0;
  for (int64_t c : recv_counts) n += c;
  return n;
}

ExchangePlan make_exchange_plan(const std::vector<int64_t>& send_index,
                                const std::vector<int64_t>& send_offsets,
                                const std::vector<int64_t>& recv_offsets,
                                const at::TensorOptions& index_options) {
  HR_CHECK_EQ(send_offsets.size(), recv_offsets.size());
  ExchangePlan plan;
  plan.send_index = at::tensor(at::ArrayRef<int64_t>(send_index), at::kLong)
                        .to(index_options.dtype(at::kLong));
  for (size_t q = 0; q + 1 < send_offsets.size(); ++q) {
    plan.send_counts.push_back(send_offsets[q + 1] - send_offsets[q]);
    plan.recv_counts.push_back(recv_offsets[q + 1] - recv_offsets[q]);
  }
  return plan;
}

GatherPlan make_gather_plan(Communicator& comm, const at::Tensor& ids, const at::Tensor& owner_of,
                            const at::Tensor& owned) {
  const int P = comm.size();
  // Fetch each id once: unique (sorted) ids, grouped by owner.
  auto [unique, inverse, counts_unused] = at::_unique2(ids.to(at::kLong), true, true, false);
  (void)counts_unused;
  const at::Tensor owners = owner_of.index_select(0, unique).to(at::kLong);
  auto [sorted_owner, by_owner] = at::sort(owners, /*stable=*/true, /*dim=*/0, false);
  const at::Tensor request = unique.index_select(0, by_owner);
  // Counted where the ids are; only the P counts cross to the host.
  const at::Tensor request_counts =
      at::bincount(sorted_owner, {}, P).to(at::kLong).cpu().contiguous();
  // Tell each owner how many ids we ask of it, then the ids.
  const std::vector<int64_t> ones(static_cast<size_t>(P), 1);
  const at::Tensor asked_counts =
      comm.all_to_all_v(request_counts.to(comm.device()), ones, ones).cpu();
  const std::vector<int64_t> send_req(request_counts.data_ptr<int64_t>(),
                                      request_counts.data_ptr<int64_t>() + P);
  const std::vector<int64_t> recv_req(asked_counts.data_ptr<int64_t>(),
                                      asked_counts.data_ptr<int64_t>() + P);
  const at::Tensor asked = comm.all_to_all_v(request, send_req, recv_req);
  // Owner side: global id -> local row.
  const at::Tensor local = at::searchsorted(owned, asked);
  const at::Tensor found =
      owned.numel() == 0 ? at::zeros_like(asked, at::kBool)
                         : owned.index_select(0, local.clamp_max(owned.numel() - 1)).eq(asked);
  if (asked.numel() > 0 && !found.all().item<bool>()) {
    const int64_t bad = asked.masked_select(found.logical_not())[0].item<int64_t>();
    HR_THROW(CommError, "rank {}: a peer asked for node {}, which this rank does not own",
             comm.rank(), bad);
  }
  GatherPlan plan;
  plan.exchange.send_index = local;
  plan.exchange.send_counts = recv_req;
  plan.exchange.recv_counts = send_req;
  // Exchange results arrive grouped by owner (order `by_owner` of the unique
  // ids); map each requested id to its row there.
  const at::Tensor position_of_unique = at::empty_like(by_owner);
  position_of_unique.index_copy_(0, by_owner,
                                 at::arange(by_owner.numel(), by_owner.options()));
  plan.inverse = position_of_unique.index_select(0, inverse.reshape({-1}));
  return plan;
}

}  // namespace halorec::comm

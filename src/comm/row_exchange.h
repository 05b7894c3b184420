#pragma once
// Differentiable row exchanges between ranks (LibTorch autograd functions).
//
// halo_exchange(owned, plan): forward sends owned rows to the peers whose
// halo holds them and returns [owned; halo]; backward sends the halo rows'
// gradients back to their owners, which add them to their own rows.
// remote_gather(owned, plan): the rows of the plan's requested ids, fetched
// from their owners; backward routes the gradients back the same way.
//
// Both are collective in forward AND backward: every rank must run the same
// exchanges in the same order, and every rank's loss must depend on each
// exchange's output (add 0 * output.sum() when a rank has nothing to use), or
// backward would leave peers waiting. The plan and communicator must outlive
// the autograd graph.

#include <ATen/core/Tensor.h>

#include <utility>

#include "comm/communicator.h"
#include "comm/exchange_plan.h"

namespace halorec::comm {

at::Tensor exchange_rows(const at::Tensor& rows, const ExchangePlan& plan, Communicator& comm);
at::Tensor halo_exchange(const at::Tensor& owned, const ExchangePlan& plan, Communicator& comm);
at::Tensor remote_gather(const at::Tensor& owned, const GatherPlan& plan, Communicator& comm);
// remote_gather of the same rows of two matrices ([rows, Da] and [rows, Db],
// one dtype) in ONE exchange each way: half the round trips of two calls.
std::pair<at::Tensor, at::Tensor> remote_gather_pair(const at::Tensor& a, const at::Tensor& b,
                                                     const GatherPlan& plan, Communicator& comm);

}  // namespace halorec::comm

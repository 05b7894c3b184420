#include "comm/row_exchange.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

namespace halorec::comm {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The exchange of rows already in send order (plan.send_index applied by the
// caller, whose index_select routes the gradients back to the owned rows):
// forward sends them to the peers, backward sends the peers' gradients back.
class SelectedExchange : public torch::autograd::Function<SelectedExchange> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& send, const ExchangePlan* plan,
                            Communicator* comm) {
    // The plan and communicator outlive the graph (see row_exchange.h).
    ctx->saved_data["plan"] = reinterpret_cast<int64_t>(plan);
    ctx->saved_data["comm"] = reinterpret_cast<int64_t>(comm);
    std::vector<int64_t> empty_shape(send.sizes().begin(), send.sizes().end());
    empty_shape[0] = 0;
    ctx->saved_data["proto"] = at::empty(empty_shape, send.options());
    return comm->all_to_all_v(send, plan->send_counts, plan->recv_counts);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto* plan = reinterpret_cast<const ExchangePlan*>(ctx->saved_data["plan"].toInt());
    auto* comm = reinterpret_cast<Communicator*>(ctx->saved_data["comm"].toInt());
    const at::Tensor proto = ctx->saved_data["proto"].toTensor();
    at::Tensor g = grads[0];
    if (!g.defined()) {
      std::vector<int64_t> shape(proto.sizes().begin(), proto.sizes().end());
      shape[0] = plan->num_recv();
      g = at::zeros(shape, proto.options());
    }
    return {comm->all_to_all_v(g.contiguous(), plan->recv_counts, plan->send_counts),
            at::Tensor(), at::Tensor()};
  }
};

}  // namespace

std::pair<at::Tensor, at::Tensor> remote_gather_pair(const at::Tensor& a, const at::Tensor& b,
                                                     const GatherPlan& plan, Communicator& comm) {
  const at::Tensor& index = plan.exchange.send_index;
  const at::Tensor send = at::cat({a.index_select(0, index), b.index_select(0, index)}, 1);
  const at::Tensor got =
      SelectedExchange::apply(send, &plan.exchange, &comm).index_select(0, plan.inverse);
  const int64_t da = a.size(1);
  return {got.slice(1, 0, da), got.slice(1, da, da + b.size(1))};
}

at::Tensor exchange_rows(const at::Tensor& rows, const ExchangePlan& plan, Communicator& comm) {
  return SelectedExchange::apply(rows.index_select(0, plan.send_index), &plan, &comm);
}

at::Tensor halo_exchange(const at::Tensor& owned, const ExchangePlan& plan, Communicator& comm) {
  return at::cat({owned, exchange_rows(owned, plan, comm)}, 0);
}

at::Tensor remote_gather(const at::Tensor& owned, const GatherPlan& plan, Communicator& comm) {
  return exchange_rows(owned, plan.exchange, comm).index_select(0, plan.inverse);
}

}  // namespace halorec::comm

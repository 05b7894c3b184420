#pragma once
// Recommender models as plain tensor code over a shard: each maps the owned
// nodes' layer-0 vectors to their final vectors, exchanging halo rows with
// peers before every propagation layer.
//   mf:       final = layer 0 (no propagation)
//   lightgcn: final = mean of layers 0..L, layer l+1 = A layer l
//   ngcf:     layer l+1 = LeakyReLU((A + I) h W1 + (A h * h) W2), message
//             dropout, L2-normalized; final = concat of layers 0..L. Its dense
//             weights are replicated on every rank (gradients all-reduced).

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "comm/exchange_plan.h"
#include "model/local_graph.h"

namespace halorec::model {

struct ModelConfig {
  std::string type = "lightgcn";
  int64_t dim = 64;
  int64_t layers = 3;
  double dropout = 0.1;
  uint64_t seed = 2020;
};

// What a model runs over; it must outlive the model.
struct ShardContext {
  const LocalGraph* graph;
  const comm::ExchangePlan* halo;
  comm::Communicator* comm;
  at::Tensor owned_ids;  // int64 global ids of the owned rows (keys dropout masks)
};

class Model {
 public:
  virtual ~Model() = default;
  // Final vectors of the owned nodes. `step` keys dropout masks, so they do
  // not depend on the partition.
  virtual at::Tensor forward(const at::Tensor& e0_owned, int64_t step, bool training) = 0;
  // The owned rows' layer 0 as propagation sees it: `e0` itself, or e0
  // fused with content features (model/content_encoder.h).
  virtual at::Tensor layer0(const at::Tensor& e0) { return e0; }
  virtual bool fuses_layer0() const { return false; }
  // train.propagation minibatch: final vectors of the targets (the first
  // blocks.sizes[L] rows) from the layer-0 vectors of all of blocks.nodes
  // (`node_ids`: the same ids as an int64 tensor on the device, for dropout),
  // gathered from layer0() of their owners.
  virtual at::Tensor forward_blocks(const at::Tensor& h0, const Blocks& blocks,
                                    const at::Tensor& node_ids, int64_t step, bool training) = 0;
  // Without autograd: the propagation's layers h_0 .. h_L of the owned rows
  // (h_0 = layer0(e0)); empty for models whose layers are not a plain
  // propagation (NGCF). Export keeps the items' for fold-in.
  virtual std::vector<at::Tensor> layer_outputs(const at::Tensor& e0) { (void)e0; return {}; }
  // Replicated dense parameters (empty for mf and lightgcn).
  virtual std::vector<at::Tensor> dense_parameters() { return {}; }
  virtual int64_t output_dim() const = 0;
};

std::unique_ptr<Model> make_model(const ModelConfig& config, const ShardContext& shard,
                                  const at::TensorOptions& options);

// Uniform(-a, a), a = sqrt(6 / (rows + cols)) (Glorot), from a counter-based
// generator keyed by (seed, tag): the same on every rank.
at::Tensor xavier(int64_t rows, int64_t cols, uint64_t seed, uint64_t tag,
                  const at::TensorOptions& options);

// Layer-0 vectors of the given global node ids: N(0, 0.1^2) from a
// counter-based generator keyed by (seed, node id, column).
at::Tensor initial_vectors(const std::vector<int64_t>& global_ids, int64_t dim, uint64_t seed);

}  // namespace halorec::model

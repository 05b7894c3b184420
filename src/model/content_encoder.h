#pragma once
// Content features at layer 0: an MLP (ReLU between layers) maps a node's
// content vector into the embedding space, fused with its id vector before
// propagation:
//   add     x0 = e0 + mlp(f)
//   concat  x0 = mlp([e0, f])
//   only    x0 = mlp(f)
// Items and users each have their own encoder (their features differ); nodes
// without features keep x0 = e0. The MLPs' weights are replicated dense
// parameters (initialized identically on every rank from the seed; their
// gradients are all-reduced with the model's).

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"

namespace halorec::model {

// How a node's content vector meets its id vector (model.features).
enum class ContentMode { kAdd, kConcat, kOnly };

// model.features' value ("add", "concat", "only"); ConfigError otherwise.
ContentMode parse_content_mode(const std::string& s);

struct ContentConfig {
  ContentMode mode = ContentMode::kAdd;
  std::vector<int64_t> widths{256};  // hidden widths
  int64_t feature_dim = 0;
  int64_t dim = 64;  // output width = the model's dim
  uint64_t seed = 2020;
  uint64_t tag = 0x100;  // keys the initial weights (items 0x100, users 0x200)
};

class ContentEncoder {
 public:
  ContentEncoder(const ContentConfig& c, const at::TensorOptions& options);
  // x0 of `rows` (their e0, and their features, one row each).
  at::Tensor fuse(const at::Tensor& e0_rows, const at::Tensor& features) const;
  std::vector<at::Tensor> parameters() const;

 private:
  ContentConfig c_;
  std::vector<at::Tensor> w_, b_;
};

// One encoder and the owned rows it applies to: `rows` (local indices,
// int64, on the model's device; may be empty) fused with `features` (one row
// per entry of rows).
struct ContentGroup {
  ContentConfig config;
  at::Tensor rows;
  at::Tensor features;
};

// `inner` run on layer-0 vectors fused group by group (groups' rows are
// disjoint). dense_parameters(): the inner model's, then each group's encoder
// in order.
std::unique_ptr<Model> with_content(std::unique_ptr<Model> inner, std::vector<ContentGroup> groups,
                                    const at::TensorOptions& options);

}  // namespace halorec::model

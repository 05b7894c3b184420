#pragma once
// data.item_features / data.user_features in training and export: loads the
// content vectors of the dataset's items and users and fuses them into a
// model (model/content_encoder.h).

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "data/features.h"
#include "model/content_encoder.h"
#include "train/config.h"

namespace halorec::train {

struct NodeFeatures {
  bool has_items = false, has_users = false;
  data::Features items, users;
};

// The features named by `c`, matched to the dataset at c.dataset (or `dataset`).
NodeFeatures load_features(const TrainConfig& c, const std::string& dataset = "");

// The model settings of a run's config (model.type, dim, layers, dropout, seed).
inline model::ModelConfig model_config(const TrainConfig& c) {
  return {name_of(c.model_type), c.dim, c.layers, c.dropout, c.seed};
}

// The encoder configuration of items (kind "item") or users ("user").
model::ContentConfig content_config(const TrainConfig& c, const std::string& kind,
                                    int64_t feature_dim);

// `net` with an encoder per configured kind, applied to the owned rows
// (`owned`: global node ids; users below num_users, items num_users + item)
// that have features. Both kinds get their encoder even where no owned row
// has features, so every rank has the same dense parameters.
std::unique_ptr<model::Model> attach_content(std::unique_ptr<model::Model> net,
                                             const TrainConfig& c, const NodeFeatures& f,
                                             const std::vector<int64_t>& owned, int64_t num_users,
                                             const at::TensorOptions& options);

}  // namespace halorec::train

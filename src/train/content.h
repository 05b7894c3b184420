#pragma once
// data.item_features in training and export: loads the content vectors of the
// dataset's items and fuses them into a model (model/content_encoder.h).

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "data/features.h"
#include "model/content_encoder.h"
#include "train/config.h"

namespace halorec::train {

// The item features named by `c` for the dataset at c.dataset (or `dataset`).
data::ItemFeatures load_item_features(const TrainConfig& c, const std::string& dataset = "");

model::ContentConfig content_config(const TrainConfig& c, int64_t feature_dim);

// `net` with the encoder applied to the owned rows that are items with
// features (`owned`: global node ids, items being num_users + item).
std::unique_ptr<model::Model> attach_content(std::unique_ptr<model::Model> net,
                                             const TrainConfig& c, const data::ItemFeatures& f,
                                             const std::vector<int64_t>& owned, int64_t num_users,
                                             const at::TensorOptions& options);

}  // namespace halorec::train

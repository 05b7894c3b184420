#include "train/content.h"

#include <ATen/ATen.h>

#include "h5/file.h"

namespace halorec::train {

data::ItemFeatures load_item_features(const TrainConfig& c, const std::string& dataset) {
  const std::string path = dataset.empty() ? c.dataset : dataset;
  std::vector<std::string> item_ids;
  {
    h5::Handle f = h5::open_file(path, "dataset");
    item_ids = h5::read_strings(f.get(), "items/original_id");
  }
  return data::read_item_features(c.item_features, c.item_feature_ids, item_ids,
                                  c.missing_features == "error",
                                  c.unknown_feature_ids == "error");
}

model::ContentConfig content_config(const TrainConfig& c, int64_t feature_dim) {
  model::ContentConfig cc;
  cc.mode = c.features;
  cc.widths = c.feature_widths;
  cc.feature_dim = feature_dim;
  cc.dim = c.dim;
  cc.seed = c.seed;
  return cc;
}

std::unique_ptr<model::Model> attach_content(std::unique_ptr<model::Model> net,
                                             const TrainConfig& c, const data::ItemFeatures& f,
                                             const std::vector<int64_t>& owned, int64_t num_users,
                                             const at::TensorOptions& options) {
  std::vector<int64_t> rows;
  std::vector<float> features;
  for (size_t k = 0; k < owned.size(); ++k) {
    const int64_t item = owned[k] - num_users;
    if (item < 0 || !f.present[static_cast<size_t>(item)]) continue;
    rows.push_back(static_cast<int64_t>(k));
    const float* src = f.rows.data() + item * f.dim;
    features.insert(features.end(), src, src + f.dim);
  }
  const int64_t n = static_cast<int64_t>(rows.size());
  at::Tensor row_t = at::tensor(rows, at::kLong).to(options.device());
  at::Tensor feat_t = at::from_blob(features.data(), {n, f.dim}, at::kFloat).clone().to(options);
  return model::with_content(std::move(net), content_config(c, f.dim), row_t, feat_t, options);
}

}  // namespace halorec::train

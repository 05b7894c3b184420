#include "train/content.h"

#include <ATen/ATen.h>

#include "h5/file.h"

namespace halorec::train {

NodeFeatures load_features(const TrainConfig& c, const std::string& dataset) {
  NodeFeatures f;
  if (c.item_features.empty() && c.user_features.empty()) return f;
  const std::string path = dataset.empty() ? c.dataset : dataset;
  h5::Handle file = h5::open_file(path, "dataset");
  const bool missing_is_error = c.missing_features == "error";
  const bool unknown_is_error = c.unknown_feature_ids == "error";
  if (!c.item_features.empty()) {
    f.has_items = true;
    f.items = data::read_features(c.item_features, c.item_feature_ids,
                                  h5::read_strings(file.get(), "items/original_id"), "item",
                                  missing_is_error, unknown_is_error);
  }
  if (!c.user_features.empty()) {
    f.has_users = true;
    f.users = data::read_features(c.user_features, c.user_feature_ids,
                                  h5::read_strings(file.get(), "users/original_id"), "user",
                                  missing_is_error, unknown_is_error);
  }
  return f;
}

model::ContentConfig content_config(const TrainConfig& c, const std::string& kind,
                                    int64_t feature_dim) {
  model::ContentConfig cc;
  cc.mode = model::parse_content_mode(c.features);
  cc.widths = c.feature_widths;
  cc.feature_dim = feature_dim;
  cc.dim = c.dim;
  cc.seed = c.seed;
  cc.tag = kind == "user" ? 0x200 : 0x100;
  return cc;
}

namespace {

// The owned rows `pick` selects (returning the dataset index, or -1) and
// their feature rows.
template <typename Pick>
model::ContentGroup group_of(const data::Features& f, model::ContentConfig config,
                             const std::vector<int64_t>& owned, Pick pick,
                             const at::TensorOptions& options) {
  std::vector<int64_t> rows;
  std::vector<float> features;
  for (size_t k = 0; k < owned.size(); ++k) {
    const int64_t index = pick(owned[k]);
    if (index < 0 || index >= static_cast<int64_t>(f.present.size()) ||
        !f.present[static_cast<size_t>(index)]) {
      continue;
    }
    rows.push_back(static_cast<int64_t>(k));
    const float* src = f.rows.data() + index * f.dim;
    features.insert(features.end(), src, src + f.dim);
  }
  const int64_t n = static_cast<int64_t>(rows.size());
  model::ContentGroup g;
  g.config = std::move(config);
  g.rows = at::tensor(rows, at::kLong).to(options.device());
  g.features = at::from_blob(features.data(), {n, f.dim}, at::kFloat).clone().to(options);
  return g;
}

}  // namespace

std::unique_ptr<model::Model> attach_content(std::unique_ptr<model::Model> net,
                                             const TrainConfig& c, const NodeFeatures& f,
                                             const std::vector<int64_t>& owned, int64_t num_users,
                                             const at::TensorOptions& options) {
  std::vector<model::ContentGroup> groups;
  if (f.has_items) {
    groups.push_back(group_of(
        f.items, content_config(c, "item", f.items.dim), owned,
        [&](int64_t id) { return id >= num_users ? id - num_users : -1; }, options));
  }
  if (f.has_users) {
    groups.push_back(group_of(
        f.users, content_config(c, "user", f.users.dim), owned,
        [&](int64_t id) { return id < num_users ? id : -1; }, options));
  }
  if (groups.empty()) return net;
  return model::with_content(std::move(net), std::move(groups), options);
}

}  // namespace halorec::train

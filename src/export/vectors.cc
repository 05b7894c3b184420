#include "export/vectors.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/digest.h"
#include "export/start.h"
#include "model/scoring.h"

namespace halorec::exporting {

OneProcess::OneProcess() {
  none.send_index = at::empty({0}, at::kLong);
  none.send_counts = {0};
  none.recv_counts = {0};
}

std::unique_ptr<model::Model> OneProcess::model(const train::TrainConfig& c,
                                                const model::LocalGraph& g,
                                                const std::vector<int64_t>& ids) {
  return model::make_model(train::model_config(c), {&g, &none, &self, at::tensor(ids, at::kLong)},
                           at::TensorOptions().dtype(at::kFloat));
}

std::vector<at::Tensor> load_dense(model::Model& net, const checkpoint::Content& content,
                                   const std::string& dir) {
  std::vector<at::Tensor> dense = net.dense_parameters();
  if (dense.size() != content.dense.size()) {
    HR_THROW(CheckpointError, "checkpoint '{}' has {} dense parameters, the model of its "
             "config {} (data.item_features, data.user_features or model.features changed?)",
             dir, content.dense.size(), dense.size());
  }
  at::NoGradGuard no_grad;
  for (size_t k = 0; k < dense.size(); ++k) {
    dense[k].detach().copy_(content.dense.at(k).view(dense[k].sizes()));
  }
  return dense;
}

// Isolated nodes of the same model with id vector zero, so the vector comes
// from the encoder alone: the same encoders (both kinds) with the trained
// dense weights.
at::Tensor cold_vectors(bool items, const train::NodeFeatures& features,
                        const train::TrainConfig& c, const std::vector<at::Tensor>& dense) {
  const data::Features& f = items ? features.items : features.users;
  if (!(items ? features.has_items : features.has_users) || f.cold_ids.empty()) return {};
  const int64_t nc = static_cast<int64_t>(f.cold_ids.size());
  const std::vector<int64_t> empty_indptr(static_cast<size_t>(nc) + 1, 0);
  const model::LocalGraph cold_graph = model::make_local_graph(nc, empty_indptr, {}, {}, true);
  std::vector<int64_t> ids(static_cast<size_t>(nc));
  for (int64_t k = 0; k < nc; ++k) ids[static_cast<size_t>(k)] = k;
  // Cold nodes as the only items (num_users 0) or the only users (num_users nc).
  train::NodeFeatures cold;
  cold.has_items = features.has_items;
  cold.has_users = features.has_users;
  cold.items.dim = features.items.dim;
  cold.users.dim = features.users.dim;
  data::Features& target = items ? cold.items : cold.users;
  target.rows = f.cold_rows;
  target.present.assign(static_cast<size_t>(nc), 1);
  OneProcess one;
  auto cold_net = one.model(c, cold_graph, ids);
  cold_net = train::attach_content(std::move(cold_net), c, cold, ids, items ? 0 : nc,
                                   at::TensorOptions().dtype(at::kFloat));
  std::vector<at::Tensor> cold_dense = cold_net->dense_parameters();
  at::NoGradGuard no_grad;
  for (size_t k = 0; k < cold_dense.size(); ++k) cold_dense[k].detach().copy_(dense[k]);
  return model::scoring_vectors(cold_net->forward(at::zeros({nc, c.dim}), 0, false),
                                c.score == train::Score::kCosine)
      .contiguous();
}

// The row index then says nothing about the raw ids (the dataset's order
// sorts them); serving joins rows with a dataset through the key.
void pseudonymize_users(serve::ModelFile& m, const std::string& key, int64_t cold) {
  for (std::string& user : m.user_ids) user = hmac_sha256_hex(key, user);
  std::vector<int64_t> order(m.user_ids.size());
  for (size_t row = 0; row < order.size(); ++row) order[row] = static_cast<int64_t>(row);
  const auto warm_end = order.end() - cold;
  auto by_pseudonym = [&](int64_t x, int64_t y) {
    return m.user_ids[static_cast<size_t>(x)] < m.user_ids[static_cast<size_t>(y)];
  };
  std::sort(order.begin(), warm_end, by_pseudonym);
  std::sort(warm_end, order.end(), by_pseudonym);
  serve::reorder_users(m, order);
}

void describe_model(const ExportStart& s, const checkpoint::TrainState& state,
                    const std::string& fingerprint, const std::string& dtype,
                    serve::ModelFile* m) {
  const train::TrainConfig& c = s.config;
  m->model_type = train::name_of(c.model_type);
  m->score = train::name_of(c.score);
  m->layers = c.layers;
  m->dataset_fingerprint = fingerprint;
  m->dataset_path = std::filesystem::absolute(s.dataset).lexically_normal().string();
  m->step = state.global_step;
  m->metrics_json = state.last_metrics_json;
  m->dtype = dtype;
  m->checkpoint = std::filesystem::absolute(s.dir()).string();
  if (!s.key.empty()) {
    m->user_id_scheme = "hmac-sha256";
    m->key_check = hmac_sha256_hex(s.key, serve::kKeyCheckMessage);
  }
}

std::optional<serve::FilterPart> filter_part_for(const ExportStart& s,
                                                 const checkpoint::TrainState& state,
                                                 const std::string& fingerprint) {
  const std::string path =
      (std::filesystem::path(s.dir()).parent_path() / "filter.h5").string();
  std::error_code ec;
  const bool there = std::filesystem::exists(path, ec);
  const bool named = s.config.filter != "none";
  if (!there) {
    if (!named) return std::nullopt;
    HR_THROW(InputError, "checkpoint '{}' is a hybrid's (model.filter {}), but its filter part "
             "'{}' is missing: run 'halorec train' with the same config and "
             "checkpoint.resume: latest to fit it", s.dir(), s.config.filter, path);
  }
  serve::FilterPart part = serve::read_filter_part(path);
  if (part.step != state.global_step) {
    if (!named) return std::nullopt;
    HR_THROW(InputError, "'{}' was fitted at training step {}, checkpoint '{}' is at step {}: "
             "export the run's last checkpoint, or fit the part for this one with 'halorec "
             "train' and checkpoint.resume", path, part.step, s.dir(), state.global_step);
  }
  if (part.dataset_fingerprint != fingerprint) {
    HR_THROW(InputError, "'{}' was fitted on another dataset than '{}'", path, s.dataset);
  }
  return part;
}

void attach_filter_part(serve::FilterPart part, const data::Dataset& d, serve::ModelFile* m) {
  if (m->cold_items + m->cold_users > 0 || m->user_id_scheme != "original") {
    HR_THROW(UsageError, "a hybrid (model.filter) exports without cold-start rows and without "
             "--pseudonymize: its filter part scores the dataset's users by their train rows");
  }
  const int64_t U = d.num_users(), I = d.num_items();
  if (static_cast<int64_t>(part.item_counts.size()) != I) {
    HR_THROW(InputError, "the filter part holds {} items, the dataset {}",
             part.item_counts.size(), I);
  }
  m->filter = part.settings;
  m->filter_rank = part.rank;
  m->filter_basis = std::move(part.basis);
  m->filter_item_counts = std::move(part.item_counts);
  m->filter_mix = part.mix;
  // The model serves the hybrid: its metrics are the hybrid's (recall@20 of
  // the mix, with filter_* and learned_* beside), over the learned part's.
  nlohmann::json metrics = nlohmann::json::parse(m->metrics_json, nullptr, false);
  if (!metrics.is_object()) metrics = nlohmann::json::object();
  const nlohmann::json hybrid = nlohmann::json::parse(part.metrics_json, nullptr, false);
  if (hybrid.is_object()) {
    for (const auto& [name, value] : hybrid.items()) {
      if (value.is_number()) metrics[name] = value;
    }
  }
  m->metrics_json = metrics.dump();
  // Every user's train items, ascending, each once: the rows the part was
  // fitted on (train and any validation carve).
  std::vector<std::pair<int64_t, int64_t>> pairs;
  pairs.reserve(d.train.size());
  for (size_t k = 0; k < d.train.size(); ++k) pairs.emplace_back(d.train.user[k], d.train.item[k]);
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  m->filter_indptr.assign(static_cast<size_t>(U) + 1, 0);
  m->filter_items.clear();
  m->filter_items.reserve(pairs.size());
  for (const auto& [u, i] : pairs) {
    ++m->filter_indptr[static_cast<size_t>(u) + 1];
    m->filter_items.push_back(i);
  }
  for (int64_t u = 0; u < U; ++u) {
    m->filter_indptr[static_cast<size_t>(u) + 1] += m->filter_indptr[static_cast<size_t>(u)];
  }
}

}  // namespace halorec::exporting

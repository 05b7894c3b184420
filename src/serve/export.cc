#include "serve/export.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <filesystem>

#include "checkpoint/checkpoint.h"
#include "comm/mpi_communicator.h"
#include "core/check.h"
#include "core/output_path.h"
#include "core/digest.h"
#include "core/log.h"
#include "core/resources.h"
#include "data/dataset.h"
#include "graph/csr.h"
#include "model/model.h"
#include "serve/model_file.h"
#include "train/config.h"
#include "train/content.h"
#include "train/contrastive_step.h"

namespace halorec::serve {

ExportReport run_export(const ExportOptions& o) {
  if (o.dtype != "fp32" && o.dtype != "fp16") {
    HR_THROW(UsageError, "--dtype '{}': expected fp32 or fp16", o.dtype);
  }
  Stopwatch watch;
  // Key and output first: a bad key file or output path fails before any work.
  const std::string key = o.pseudonymize_key_file.empty()
                              ? std::string()
                              : read_key_file(o.pseudonymize_key_file, o.allow_readable_key);
  const std::vector<std::string> committed = checkpoint::list_committed(o.checkpoint);
  if (committed.empty()) {
    HR_THROW(InputError, "--checkpoint '{}': no committed checkpoint there", o.checkpoint);
  }
  // The newest committed checkpoint that reads; each one skipped is named.
  // (A single checkpoint given by name is used or refused, never replaced.)
  size_t pick = 0;
  auto skip_or_throw = [&](const std::exception& e) {
    if (pick + 1 >= committed.size()) throw;
    log::warn("skipping checkpoint {}: {}; trying the one before it", committed[pick], e.what());
    ++pick;
  };
  std::string config_yaml;
  checkpoint::Identity id;
  train::TrainConfig c;
  for (;;) {
    try {
      id = checkpoint::read_identity(committed[pick], &config_yaml);
      c = train::config_from_yaml(config_yaml, committed[pick] + "/dense.h5:config");
      break;
    } catch (const InputError& e) {
      skip_or_throw(e);
    } catch (const ConfigError& e) {
      skip_or_throw(e);
    }
  }
  const std::string dataset_path = o.dataset.empty() ? c.dataset : o.dataset;
  check_output_file({"--out", o.out},
                    {{"--checkpoint", o.checkpoint}, {"--checkpoint", committed[pick]},
                     {o.dataset.empty() ? "data.dataset of the checkpoint" : "--dataset",
                      dataset_path},
                     {"--pseudonymize", o.pseudonymize_key_file}},
                    is_model_file);
  const data::Dataset d = data::read_dataset(dataset_path);
  const std::string fingerprint = d.fingerprint();
  const int64_t n = d.num_users() + d.num_items();
  std::vector<int64_t> all(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) all[static_cast<size_t>(k)] = k;
  checkpoint::Content content;
  size_t identity_of = pick;  // the checkpoint `id` and `c` were read from
  for (;;) {
    try {
      if (pick != identity_of) {
        id = checkpoint::read_identity(committed[pick], &config_yaml);
        c = train::config_from_yaml(config_yaml, committed[pick] + "/dense.h5:config");
        identity_of = pick;
      }
      if (fingerprint != id.dataset_fingerprint) {
        HR_THROW(InputError, "checkpoint '{}' was trained on another dataset than '{}'",
                 committed[pick], dataset_path);
      }
      content = checkpoint::load_checkpoint(committed[pick], all, id);
      break;
    } catch (const InputError& e) {
      skip_or_throw(e);
    } catch (const CheckpointError& e) {
      skip_or_throw(e);
    } catch (const ConfigError& e) {
      skip_or_throw(e);
    }
  }
  const std::string dir = committed[pick];

  // The whole graph as one shard, on this process alone.
  const graph::Csr a = graph::normalized_adjacency(d);
  const model::LocalGraph g = model::make_local_graph(n, a.indptr, a.col, a.value, true);
  comm::MpiCommunicator self(MPI_COMM_SELF);
  comm::ExchangePlan none;
  none.send_index = at::empty({0}, at::kLong);
  none.send_counts = {0};
  none.recv_counts = {0};
  model::ModelConfig mc{c.model_type, c.dim, c.layers, c.dropout, c.seed};
  auto net = model::make_model(mc, {&g, &none, &self, at::tensor(all, at::kLong)},
                               at::TensorOptions().dtype(at::kFloat));
  train::NodeFeatures features;
  const bool with_features = !c.item_features.empty() || !c.user_features.empty();
  if (with_features) {
    features = train::load_features(c, o.dataset.empty() ? c.dataset : o.dataset);
    net = train::attach_content(std::move(net), c, features, all, d.num_users(),
                                at::TensorOptions().dtype(at::kFloat));
  }
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> dense = net->dense_parameters();
  if (dense.size() != content.dense.size()) {
    HR_THROW(CheckpointError, "checkpoint '{}' has {} dense parameters, the model of its "
             "config {} (data.item_features, data.user_features or model.features changed?)",
             dir, content.dense.size(), dense.size());
  }
  for (size_t k = 0; k < dense.size(); ++k) {
    dense[k].detach().copy_(content.dense.at(k).view(dense[k].sizes()));
  }
  // model.score cosine: stored as unit vectors, so every reader's dot product
  // is the model's score.
  const bool cosine = c.score == "cosine";
  const at::Tensor final_vectors =
      train::scoring_vectors(net->forward(content.e0, 0, false), cosine).contiguous();

  // Cold-start items (users): content but no interactions. Isolated nodes of
  // the same model with id vector zero, so the vector comes from the encoder
  // alone. The same encoders (both kinds) with the trained weights.
  auto cold_vectors = [&](bool items) -> at::Tensor {
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
    auto cold_net = model::make_model(mc, {&cold_graph, &none, &self, at::tensor(ids, at::kLong)},
                                      at::TensorOptions().dtype(at::kFloat));
    cold_net = train::attach_content(std::move(cold_net), c, cold, ids, items ? 0 : nc,
                                     at::TensorOptions().dtype(at::kFloat));
    std::vector<at::Tensor> cold_dense = cold_net->dense_parameters();
    for (size_t k = 0; k < cold_dense.size(); ++k) cold_dense[k].detach().copy_(dense[k]);
    return train::scoring_vectors(cold_net->forward(at::zeros({nc, c.dim}), 0, false), cosine)
        .contiguous();
  };
  const at::Tensor cold_items = cold_vectors(true);
  const at::Tensor cold_users = cold_vectors(false);

  ModelFile m;
  m.user_ids = d.user_ids;
  m.item_ids = d.item_ids;
  m.dim = final_vectors.size(1);
  const float* p = final_vectors.data_ptr<float>();
  m.user_vectors.assign(p, p + d.num_users() * m.dim);
  m.item_vectors.assign(p + d.num_users() * m.dim, p + n * m.dim);
  if (cold_items.defined()) {
    m.item_ids.insert(m.item_ids.end(), features.items.cold_ids.begin(),
                      features.items.cold_ids.end());
    const float* cp = cold_items.data_ptr<float>();
    m.item_vectors.insert(m.item_vectors.end(), cp, cp + cold_items.numel());
    m.cold_items = static_cast<int64_t>(features.items.cold_ids.size());
  }
  if (cold_users.defined()) {
    m.user_ids.insert(m.user_ids.end(), features.users.cold_ids.begin(),
                      features.users.cold_ids.end());
    const float* cp = cold_users.data_ptr<float>();
    m.user_vectors.insert(m.user_vectors.end(), cp, cp + cold_users.numel());
    m.cold_users = static_cast<int64_t>(features.users.cold_ids.size());
  }
  m.model_type = c.model_type;
  m.score = c.score;
  m.layers = c.layers;
  m.dataset_fingerprint = fingerprint;
  m.step = content.state.global_step;
  m.metrics_json = content.state.last_metrics_json;
  m.dtype = o.dtype;
  m.checkpoint = std::filesystem::absolute(dir).string();
  ExportReport r;
  if (o.interests) {
    Stopwatch interest_watch;
    m.interests = interests_for_all(static_cast<int64_t>(m.user_ids.size()), d.train.user,
                                    d.train.item,
                                    d.train.has_time ? d.train.time : std::vector<int64_t>{},
                                    m.item_vectors, m.dim, o.interest_options);
    r.interests = m.interests.num_interests();
    r.interest_seconds = interest_watch.seconds();
  }
  if (!key.empty()) {
    for (std::string& user : m.user_ids) user = hmac_sha256_hex(key, user);
    m.user_id_scheme = "hmac-sha256";
    m.key_check = hmac_sha256_hex(key, kKeyCheckMessage);
    // Rows in pseudonym order (the dataset's users, then the cold ones): the
    // row index then says nothing about the raw ids (the dataset's order
    // sorts them); serving joins rows with a dataset through the key.
    std::vector<int64_t> order(m.user_ids.size());
    for (size_t row = 0; row < order.size(); ++row) order[row] = static_cast<int64_t>(row);
    const auto warm_end = order.end() - m.cold_users;
    auto by_pseudonym = [&](int64_t x, int64_t y) {
      return m.user_ids[static_cast<size_t>(x)] < m.user_ids[static_cast<size_t>(y)];
    };
    std::sort(order.begin(), warm_end, by_pseudonym);
    std::sort(warm_end, order.end(), by_pseudonym);
    reorder_users(m, order);
  }
  write_model_file(m, o.out);

  r.checkpoint = dir;
  r.out = o.out;
  r.users = d.num_users();
  r.items = d.num_items();
  r.dim = m.dim;
  r.cold_items = m.cold_items;
  r.cold_users = m.cold_users;
  r.bytes = static_cast<int64_t>(std::filesystem::file_size(o.out));
  r.seconds = watch.seconds();
  return r;
}

}  // namespace halorec::serve

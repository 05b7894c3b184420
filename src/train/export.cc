#include "train/export.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <optional>

#include "checkpoint/checkpoint.h"
#include "comm/local_communicator.h"
#include "comm/shared_name.h"
#include "core/check.h"
#include "core/output_path.h"
#include "core/digest.h"
#include "core/log.h"
#include "core/resources.h"
#include "core/temp_files.h"
#include "data/dataset.h"
#include "data/social.h"
#include "data/split.h"
#include "graph/csr.h"
#include "h5/file.h"
#include "model/model.h"
#include "partition/shard_file.h"
#include "serve/model_file.h"
#include "train/config.h"
#include "train/content.h"
#include "train/contrastive_step.h"
#include "train/trainer.h"

namespace halorec::train {

// The serving side's model file, which the export writes.
using serve::is_model_file;
using serve::kKeyCheckMessage;
using serve::kModelPartFormat;
using serve::ModelFile;
using serve::ModelPart;
using serve::write_model_file;
using serve::write_model_index;
using serve::write_model_part;

namespace {

// A model over a graph held whole by this process: a one-rank communicator
// and no halo. Outlives the models it makes (they point at both).
struct OneProcess {
  comm::LocalCommunicator self;
  comm::ExchangePlan none;
  OneProcess() {
    none.send_index = at::empty({0}, at::kLong);
    none.send_counts = {0};
    none.recv_counts = {0};
  }
  std::unique_ptr<model::Model> model(const train::TrainConfig& c, const model::LocalGraph& g,
                                      const std::vector<int64_t>& ids) {
    return model::make_model(train::model_config(c), {&g, &none, &self, at::tensor(ids, at::kLong)},
                             at::TensorOptions().dtype(at::kFloat));
  }
};

// Cold-start items (users): content but no interactions. Isolated nodes of
// the same model with id vector zero, so the vector comes from the encoder
// alone: the same encoders (both kinds) with the trained dense weights.
// Undefined when there are none.
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
  for (size_t k = 0; k < cold_dense.size(); ++k) cold_dense[k].detach().copy_(dense[k]);
  return train::scoring_vectors(cold_net->forward(at::zeros({nc, c.dim}), 0, false),
                                c.score == "cosine")
      .contiguous();
}

// The first of committed[from..] (newest first) whose identity and config
// read; each one skipped is named, the last one's error is thrown.
size_t newest_readable(const std::vector<std::string>& committed, size_t from,
                       checkpoint::Identity* id, train::TrainConfig* c, std::string* config_yaml) {
  for (size_t pick = from;; ++pick) {
    try {
      *id = checkpoint::read_identity(committed[pick], config_yaml);
      *c = train::config_from_yaml(*config_yaml, committed[pick] + "/dense.h5:config");
      return pick;
    } catch (const std::exception& e) {
      const bool ours = dynamic_cast<const InputError*>(&e) != nullptr ||
                        dynamic_cast<const ConfigError*>(&e) != nullptr;
      if (!ours || pick + 1 >= committed.size()) throw;
      log::warn("skipping checkpoint {}: {}; trying the one before it", committed[pick],
                e.what());
    }
  }
}

// Replaces `m`'s user ids by their pseudonyms under `key` and puts the rows
// in pseudonym order (the warm users, then the last `cold` ones): the row
// index then says nothing about the raw ids (the dataset's order sorts
// them); serving joins rows with a dataset through the key.
void pseudonymize_users(ModelFile& m, const std::string& key, int64_t cold) {
  for (std::string& user : m.user_ids) user = hmac_sha256_hex(key, user);
  std::vector<int64_t> order(m.user_ids.size());
  for (size_t row = 0; row < order.size(); ++row) order[row] = static_cast<int64_t>(row);
  const auto warm_end = order.end() - cold;
  auto by_pseudonym = [&](int64_t x, int64_t y) {
    return m.user_ids[static_cast<size_t>(x)] < m.user_ids[static_cast<size_t>(y)];
  };
  std::sort(order.begin(), warm_end, by_pseudonym);
  std::sort(warm_end, order.end(), by_pseudonym);
  reorder_users(m, order);
}

// The model's dense parameters (content encoders), set from the checkpoint's.
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

// What every export checks first, so that a bad key file or checkpoint
// folder fails before any work: the key ("" without --pseudonymize) and the
// committed checkpoints, newest first.
std::vector<std::string> start_export(const ExportOptions& o, std::string* key) {
  if (o.dtype != "fp32" && o.dtype != "fp16") {
    HR_THROW(UsageError, "--dtype '{}': expected fp32 or fp16", o.dtype);
  }
  *key = o.pseudonymize_key_file.empty()
             ? std::string()
             : read_key_file(o.pseudonymize_key_file, o.allow_readable_key);
  std::vector<std::string> committed = checkpoint::list_committed(o.checkpoint);
  if (committed.empty()) {
    HR_THROW(InputError, "--checkpoint '{}': no committed checkpoint there", o.checkpoint);
  }
  return committed;
}

// The social edges file of the checkpoint's graph (data.social, or --social
// in its place), checked against the fingerprint the checkpoint recorded; ""
// when the graph had none.
std::string social_file_for(const ExportOptions& o, const TrainConfig& c,
                            const checkpoint::Identity& id, const std::string& dir) {
  if (id.social_fingerprint.empty()) {
    if (!o.social.empty()) {
      HR_THROW(UsageError, "--social '{}': checkpoint '{}' was trained without social edges",
               o.social, dir);
    }
    return "";
  }
  const std::string path = o.social.empty() ? c.social : o.social;
  const char* named = o.social.empty() ? "data.social of the checkpoint" : "--social";
  std::error_code ec;
  if (path.empty() || !std::filesystem::is_regular_file(path, ec)) {
    HR_THROW(InputError, "checkpoint '{}' was trained with social edges ({} '{}'), and that file "
             "is not there: give --social FILE with the same pairs", dir, named, path);
  }
  const std::string fingerprint = data::social_fingerprint(path);
  if (fingerprint != id.social_fingerprint) {
    HR_THROW(InputError, "{} '{}' is not the social edges file checkpoint '{}' was trained with "
             "(fingerprint {}..., the checkpoint's {}...)", named, path, dir,
             fingerprint.substr(0, 12), id.social_fingerprint.substr(0, 12));
  }
  return path;
}

}  // namespace

ExportReport run_export(const ExportOptions& o) {
  Stopwatch watch;
  // One writer for model.h5 and its index at a time.
  const PathLock lock = lock_output({"--out", o.out}, false);
  // Key and output first: a bad key file or output path fails before any work.
  std::string key;
  const std::vector<std::string> committed = start_export(o, &key);
  // The newest committed checkpoint that reads; each one skipped is named.
  // (A single checkpoint given by name is used or refused, never replaced.)
  std::string config_yaml;
  checkpoint::Identity id;
  train::TrainConfig c;
  size_t pick = newest_readable(committed, 0, &id, &c, &config_yaml);
  auto skip_or_throw = [&](const std::exception& e) {
    if (pick + 1 >= committed.size()) throw;
    log::warn("skipping checkpoint {}: {}; trying the one before it", committed[pick], e.what());
    ++pick;
  };
  const std::string dataset_path = o.dataset.empty() ? c.dataset : o.dataset;
  check_output_file({"--out", o.out},
                    {{"--checkpoint", o.checkpoint}, {"--checkpoint", committed[pick]},
                     {o.dataset.empty() ? "data.dataset of the checkpoint" : "--dataset",
                      dataset_path},
                     {"--pseudonymize", o.pseudonymize_key_file},
                     {o.social.empty() ? "data.social of the checkpoint" : "--social",
                      o.social.empty() ? c.social : o.social}},
                    is_model_file);
  // The index goes to a file of its own name (serve/ann_index.h), named by
  // the model.h5 that is committed after it.
  const std::string index_path = serve::new_index_path(o.out);
  serve::IndexOptions index_options = o.index_options;
  index_options.kind = o.index;
  if (!o.index.empty()) {
    serve::check_index_options(index_options);
    serve::require_faiss();
  }
  data::Dataset d = data::read_dataset(dataset_path);
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

  // The whole graph as one shard, on this process alone: the graph the model
  // was trained on, without a validation carve's records (data.validation).
  // With social edges (data.social), the same user-user edges.
  graph::Csr a;
  std::vector<double> degree;  // weighted, of the same graph (fold-in)
  const std::string social_path = social_file_for(o, c, id, dir);
  data::SocialEdges social;
  if (!social_path.empty()) social = data::read_social(social_path, d.user_ids, nullptr);
  const data::SocialEdges* with_social = social_path.empty() ? nullptr : &social;
  data::Interactions all_train;
  if (c.validation > 0) {
    all_train = d.train;
    data::carve_validation(c.validation, static_cast<uint64_t>(c.validation_seed), &d.train);
  }
  a = graph::normalized_adjacency(d, with_social);
  degree = graph::weighted_degrees(d, with_social);
  if (c.validation > 0) d.train = std::move(all_train);
  const model::LocalGraph g = model::make_local_graph(n, a.indptr, a.col, a.value, true);
  OneProcess one;
  auto net = one.model(c, g, all);
  train::NodeFeatures features;
  const bool with_features = !c.item_features.empty() || !c.user_features.empty();
  if (with_features) {
    features = train::load_features(c, o.dataset.empty() ? c.dataset : o.dataset);
    net = train::attach_content(std::move(net), c, features, all, d.num_users(),
                                at::TensorOptions().dtype(at::kFloat));
  }
  at::NoGradGuard no_grad;
  const std::vector<at::Tensor> dense = load_dense(*net, content, dir);
  // model.score cosine: stored as unit vectors, so every reader's dot product
  // is the model's score.
  const bool cosine = c.score == "cosine";
  const at::Tensor final_vectors =
      train::scoring_vectors(net->forward(content.e0, 0, false), cosine).contiguous();

  const at::Tensor cold_items = cold_vectors(true, features, c, dense);
  const at::Tensor cold_users = cold_vectors(false, features, c, dense);

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
  if (c.model_type == "lightgcn" && c.layers > 0 && !with_features) {
    // Fold-in: the items' layers 0..L-1, their degrees, the users' layer 0.
    const std::vector<at::Tensor> layers = net->layer_outputs(content.e0);
    const int64_t U = d.num_users();
    m.fold_layers = c.layers;
    for (int64_t l = 0; l < c.layers; ++l) {
      const at::Tensor items = layers[static_cast<size_t>(l)].slice(0, U).contiguous();
      const float* ip = items.data_ptr<float>();
      m.fold_item_layers.insert(m.fold_item_layers.end(), ip, ip + items.numel());
    }
    m.fold_item_degree.assign(degree.begin() + U, degree.end());
    const at::Tensor users = content.e0.slice(0, 0, U).contiguous();
    m.fold_user_layer0.assign(users.data_ptr<float>(), users.data_ptr<float>() + users.numel());
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
    m.user_id_scheme = "hmac-sha256";
    m.key_check = hmac_sha256_hex(key, kKeyCheckMessage);
    pseudonymize_users(m, key, m.cold_users);
  }
  const serve::IndexRecord old_index = serve::read_index_record(o.out);
  std::optional<TempPath> new_index;
  if (!o.index.empty()) {
    // Over the vectors as model.h5 stores them (fp16 rounds).
    serve::ModelFile served;
    served.dim = m.dim;
    served.item_ids = m.item_ids;
    served.item_vectors = m.item_vectors;
    if (o.dtype == "fp16") {
      const at::Tensor v = at::from_blob(served.item_vectors.data(),
                                         {static_cast<int64_t>(served.item_vectors.size())},
                                         at::kFloat);
      v.copy_(v.to(at::kHalf).to(at::kFloat));
    }
    const serve::IndexReport ir = serve::build_index(served, index_options, index_path);
    new_index.emplace(index_path);  // removed again unless model.h5 commits naming it
    m.index_file = std::filesystem::path(index_path).filename().string();
    m.index_kind = ir.kind;
    m.index_sha256 = ir.sha256;
    m.index_bytes = ir.bytes;
    r.index_file = index_path;
    r.index_bytes = ir.bytes;
    r.index_seconds = ir.seconds;
  }
  write_model_file(m, o.out);
  if (new_index) new_index->release();
  serve::remove_replaced_indexes(o.out, old_index, m.index_file);

  r.checkpoint = dir;
  r.out = o.out;
  r.users = d.num_users();
  r.items = d.num_items();
  r.dim = m.dim;
  r.cold_items = m.cold_items;
  r.cold_users = m.cold_users;
  r.bytes = static_cast<int64_t>(std::filesystem::file_size(o.out));
  r.seconds = watch.seconds();
  r.peak_rss_mib = {static_cast<double>(peak_rss_bytes()) / (1 << 20)};
  return r;
}

}  // namespace halorec::train

namespace halorec::train {

namespace {

// The file of rank `rank`'s rows in an export by `ranks` ranks.
std::string part_file(const std::string& tag, int rank, int ranks) {
  return fmt::format("{}-rank-{:05d}-of-{:05d}.h5", tag, rank, ranks);
}

// Removes the part files of earlier exports to `out` (HaloRec's part
// files only; anything else in the folder is left alone).
void remove_stale_parts(const std::string& parts_dir, const std::string& tag) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(parts_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file(ec) || name.rfind(tag + "-", 0) == 0) continue;
    if (name.size() < 3 || name.substr(name.size() - 3) != ".h5") continue;
    if (h5::file_format(e.path().string()) != kModelPartFormat) continue;
    std::filesystem::remove(e.path(), ec);
  }
}

}  // namespace

ExportReport run_sharded_export(const ExportOptions& o, comm::Communicator& comm) {
  Stopwatch watch;
  const int P = comm.size();
  const int rank = comm.rank();
  if (o.interests) {
    HR_THROW(UsageError,
             "--interests with {} ranks: interests need every item vector in one process; export "
             "on one process (no mpirun) to store them, or run 'halorec interests --model M "
             "--dataset D' on this export",
             P);
  }
  serve::IndexOptions index_options = o.index_options;
  index_options.kind = o.index;
  if (!o.index.empty()) {
    serve::check_index_options(index_options);
    serve::require_faiss();
  }
  std::string key;
  const std::vector<std::string> committed = start_export(o, &key);
  std::string config_yaml;
  checkpoint::Identity id;
  train::TrainConfig c;
  const std::string dir = committed[newest_readable(committed, 0, &id, &c, &config_yaml)];
  const std::string dataset_path = o.dataset.empty() ? c.dataset : o.dataset;
  const std::string parts_dir = o.out + ".parts";
  const std::vector<NamedPath> inputs = {
      {"--checkpoint", o.checkpoint},
      {"--checkpoint", dir},
      {o.dataset.empty() ? "data.dataset of the checkpoint" : "--dataset", dataset_path},
      {"--pseudonymize", o.pseudonymize_key_file},
      {o.social.empty() ? "data.social of the checkpoint" : "--social",
       o.social.empty() ? c.social : o.social},
      {"--parts", o.parts}};
  // Rank 0 holds the lock on model.h5, its parts and its index for the job.
  std::optional<PathLock> lock;
  if (rank == 0) {
    lock.emplace(lock_output({"--out", o.out}, false));
    check_output_file({"--out", o.out}, inputs, is_model_file);
    check_output_folder({"--out (its parts folder)", parts_dir}, "model-parts", inputs, true, true);
    make_marked_folder(parts_dir, "model-parts", "--out");
  }
  const data::DatasetInfo info = data::read_dataset_info(dataset_path);
  if (info.fingerprint != id.dataset_fingerprint) {
    HR_THROW(InputError, "checkpoint '{}' was trained on another dataset than '{}'", dir,
             dataset_path);
  }
  // This rank's shard of a P-part partition: --parts (made there when
  // absent, stale or for another rank count), else the run's own when it
  // fits (only read: export never writes where a checkpoint's config
  // points), else a scratch partition beside --out, removed afterwards.
  train::TrainConfig pc = c;
  pc.dataset = dataset_path;
  pc.social = social_file_for(o, c, id, dir);
  std::optional<TempPath> scratch;
  if (!o.parts.empty()) {
    pc.parts = o.parts;
  } else {
    const std::string run_parts = c.parts.empty() ? c.output_dir + "/parts" : c.parts;
    at::Tensor fits = at::zeros({1}, at::kLong);
    if (rank == 0 && train::partition_fits(pc, run_parts, P)) fits.fill_(1);
    fits = fits.to(comm.device());
    comm.broadcast(fits, 0);
    const std::filesystem::path out_dir = std::filesystem::path(o.out).has_parent_path()
                                              ? std::filesystem::path(o.out).parent_path()
                                              : std::filesystem::path(".");
    const std::string folder =
        (out_dir / ("." + std::filesystem::path(o.out).filename().string().substr(0, 200) +
                    ".partition-" + comm::shared_random_hex(comm)))
            .string();
    if (fits.cpu().item<int64_t>() == 1) {
      pc.parts = run_parts;
    } else {
      pc.parts = folder + "/parts";
      if (rank == 0) {
        make_marked_folder(folder, "scratch", "--out");
        scratch.emplace(folder);
        log::info("the run's partition does not fit this export: partitioning into {} (give "
                  "--parts DIR to keep one)", folder);
      }
    }
  }
  const std::string parts = train::ensure_partition(pc, comm);
  const partition::PartitionMeta meta = partition::read_meta(parts, false);
  partition::check_partition_matches(meta, parts, dataset_path, info.fingerprint);
  partition::Shard shard = partition::read_shard(parts, rank, meta);
  const int64_t U = shard.num_users;
  const model::LocalGraph graph =
      model::make_local_graph(shard.num_owned() + shard.num_halo(), shard.indptr, shard.col,
                              shard.value, P == 1, false);
  std::vector<int64_t>().swap(shard.col);
  std::vector<float>().swap(shard.value);
  const comm::ExchangePlan halo = comm::make_exchange_plan(
      shard.send_index, shard.send_offsets, shard.recv_offsets, at::TensorOptions());
  const model::ModelConfig mc = train::model_config(c);
  const auto options = at::TensorOptions().dtype(at::kFloat);
  auto net = model::make_model(mc, {&graph, &halo, &comm, at::tensor(shard.owned, at::kLong)},
                               options);
  train::NodeFeatures features;
  if (!c.item_features.empty() || !c.user_features.empty()) {
    features = train::load_features(c, dataset_path);
    net = train::attach_content(std::move(net), c, features, shard.owned, U, options);
  }
  const checkpoint::Content content = checkpoint::load_checkpoint(dir, shard.owned, id);
  at::NoGradGuard no_grad;
  const std::vector<at::Tensor> dense = load_dense(*net, content, dir);
  const at::Tensor final_vectors =
      train::scoring_vectors(net->forward(content.e0, 0, false), c.score == "cosine")
          .contiguous();
  const int64_t dim = final_vectors.size(1);

  // This rank's rows: its owned users, then its owned items (by dense id);
  // the last rank adds the cold-start ones, which model.h5 keeps last.
  ModelPart part;
  {
    std::vector<std::string> ids = data::read_original_ids(dataset_path, shard.owned, U);
    const int64_t n_users =
        std::lower_bound(shard.owned.begin(), shard.owned.end(), U) - shard.owned.begin();
    part.user_ids.assign(std::make_move_iterator(ids.begin()),
                         std::make_move_iterator(ids.begin() + n_users));
    part.item_ids.assign(std::make_move_iterator(ids.begin() + n_users),
                         std::make_move_iterator(ids.end()));
    const float* p = final_vectors.data_ptr<float>();
    part.user_vectors.assign(p, p + n_users * dim);
    part.item_vectors.assign(p + n_users * dim, p + final_vectors.numel());
  }
  int64_t cold[2] = {0, 0};  // items, users
  if (rank == P - 1) {
    for (const bool items : {true, false}) {
      const at::Tensor v = cold_vectors(items, features, c, dense);
      if (!v.defined()) continue;
      const auto& f = items ? features.items : features.users;
      auto& ids = items ? part.item_ids : part.user_ids;
      auto& vectors = items ? part.item_vectors : part.user_vectors;
      ids.insert(ids.end(), f.cold_ids.begin(), f.cold_ids.end());
      vectors.insert(vectors.end(), v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
      cold[items ? 0 : 1] = static_cast<int64_t>(f.cold_ids.size());
    }
  }
  if (!key.empty()) {
    // Pseudonyms, rows in pseudonym order within the part.
    ModelFile rows;
    rows.dim = dim;
    rows.user_ids = std::move(part.user_ids);
    rows.user_vectors = std::move(part.user_vectors);
    pseudonymize_users(rows, key, cold[1]);
    part.user_ids = std::move(rows.user_ids);
    part.user_vectors = std::move(rows.user_vectors);
  }
  const std::string tag = comm::shared_random_hex(comm).substr(0, 8);
  write_model_part(part, dim, o.dtype, tag, rank, P,
                   (std::filesystem::path(parts_dir) / part_file(tag, rank, P)).string());
  // Every part is written once every rank has its row counts.
  std::vector<int64_t> counts_per_rank;
  const at::Tensor counts =
      comm.all_gather_v(at::tensor({static_cast<int64_t>(part.user_ids.size()),
                                    static_cast<int64_t>(part.item_ids.size()), cold[0], cold[1]},
                                   at::kLong)
                            .view({1, 4})
                            .to(comm.device()))
          .cpu();
  ExportReport r;
  r.checkpoint = dir;
  r.out = o.out;
  r.users = info.num_users;
  r.items = info.num_items;
  r.dim = dim;
  if (rank == 0) {
    ModelFile m;
    m.dim = dim;
    m.model_type = c.model_type;
    m.score = c.score;
    m.layers = c.layers;
    m.dataset_fingerprint = info.fingerprint;
    m.step = content.state.global_step;
    m.metrics_json = content.state.last_metrics_json;
    m.dtype = o.dtype;
    m.checkpoint = std::filesystem::absolute(dir).string();
    m.cold_items = counts[P - 1][2].item<int64_t>();
    m.cold_users = counts[P - 1][3].item<int64_t>();
    if (!key.empty()) {
      m.user_id_scheme = "hmac-sha256";
      m.key_check = hmac_sha256_hex(key, kKeyCheckMessage);
    }
    std::vector<std::string> files;
    std::vector<int64_t> users, items;
    const std::string folder = std::filesystem::path(parts_dir).filename().string();
    for (int q = 0; q < P; ++q) {
      files.push_back(folder + "/" + part_file(tag, q, P));
      users.push_back(counts[q][0].item<int64_t>());
      items.push_back(counts[q][1].item<int64_t>());
    }
    const serve::IndexRecord old_index = serve::read_index_record(o.out);
    std::optional<TempPath> new_index;
    if (!o.index.empty()) {
      // Rank 0 indexes the item rows of every part, in model.h5's order, and
      // model.h5 commits naming the index: the two are replaced together.
      ModelFile served;
      served.dim = dim;
      for (int q = 0; q < P; ++q) {
        serve::read_model_part_items(
            (std::filesystem::path(parts_dir) / part_file(tag, q, P)).string(), dim,
            &served.item_ids, &served.item_vectors);
      }
      const std::string index_path = serve::new_index_path(o.out);
      const serve::IndexReport ir = serve::build_index(served, index_options, index_path);
      new_index.emplace(index_path);
      m.index_file = std::filesystem::path(index_path).filename().string();
      m.index_kind = ir.kind;
      m.index_sha256 = ir.sha256;
      m.index_bytes = ir.bytes;
      r.index_file = index_path;
      r.index_bytes = ir.bytes;
      r.index_seconds = ir.seconds;
    }
    write_model_index(m, tag, files, users, items, o.out);
    if (new_index) new_index->release();
    remove_stale_parts(parts_dir, tag);
    serve::remove_replaced_indexes(o.out, old_index, m.index_file);
    r.cold_items = m.cold_items;
    r.cold_users = m.cold_users;
    r.bytes = static_cast<int64_t>(std::filesystem::file_size(o.out));
    for (const std::string& f : files) {
      r.bytes += static_cast<int64_t>(
          std::filesystem::file_size(std::filesystem::path(parts_dir) / std::filesystem::path(f).filename()));
    }
  }
  // model.h5 is committed when any rank returns. The others wait for as long
  // as rank 0 builds the index: no timeout here.
  std::optional<comm::UnlimitedWait> unlimited;
  if (!o.index.empty()) unlimited.emplace(comm);
  const at::Tensor rss =
      comm.all_gather_v(at::tensor({static_cast<double>(peak_rss_bytes()) / (1 << 20)}, at::kDouble)
                            .to(comm.device()))
          .cpu();
  r.peak_rss_mib.assign(rss.data_ptr<double>(), rss.data_ptr<double>() + rss.numel());
  r.seconds = watch.seconds();
  return r;
}

}  // namespace halorec::train

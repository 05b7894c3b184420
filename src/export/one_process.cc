// run_export: the whole graph in one process, no MPI.

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <filesystem>
#include <numeric>

#include "checkpoint/checkpoint.h"
#include "core/check.h"
#include "core/output_path.h"
#include "core/path_lock.h"
#include "core/progress.h"
#include "core/resources.h"
#include "data/dataset.h"
#include "data/social.h"
#include "data/split.h"
#include "export/export.h"
#include "export/index_set.h"
#include "export/start.h"
#include "export/vectors.h"
#include "graph/csr.h"
#include "model/scoring.h"
#include "serve/model_file.h"

namespace halorec::exporting {

namespace {

// Every node's rows of the newest committed checkpoint from s->pick on that
// reads and was trained on this dataset; each one skipped is named.
checkpoint::Content load_newest(ExportStart* s, const std::string& fingerprint,
                                const std::vector<int64_t>& all, const std::string& dataset) {
  for (;;) {
    try {
      if (fingerprint != s->id.dataset_fingerprint) {
        HR_THROW(InputError, "checkpoint '{}' was trained on another dataset than '{}'",
                 s->dir(), dataset);
      }
      return checkpoint::load_checkpoint(s->dir(), all, s->id);
    } catch (const InputError& e) {
      s->skip(e);
    } catch (const CheckpointError& e) {
      s->skip(e);
    } catch (const ConfigError& e) {
      s->skip(e);
    }
  }
}

// The graph the model was trained on, as one shard: without a validation
// carve's records (data.validation), with the same social edges
// (data.social); and its weighted degrees (fold-in).
struct WholeGraph {
  graph::Csr adjacency;
  std::vector<double> degree;
  // With social edges at a weight > 0: each user's social degree S (empty
  // otherwise), and that weight.
  std::vector<double> social_degree;
  double social_weight = 0;
  double social_edge_weight = 1;  // the mean weight of a social edge
};

WholeGraph whole_graph(data::Dataset* d, const train::TrainConfig& c,
                       const std::string& social_path) {
  data::SocialEdges social;
  if (!social_path.empty()) social = data::read_social(social_path, d->user_ids, nullptr);
  const data::SocialEdges* with_social = social_path.empty() ? nullptr : &social;
  data::Interactions all_train;
  if (c.validation > 0) {
    all_train = d->train;
    data::carve_validation(c.validation, static_cast<uint64_t>(c.validation_seed), &d->train);
  }
  WholeGraph w;
  w.adjacency = graph::normalized_adjacency(*d, with_social, c.social_weight);
  w.degree = graph::weighted_degrees(*d);
  if (with_social != nullptr && c.social_weight > 0) {
    w.social_weight = c.social_weight;
    w.social_degree = graph::social_degrees(social, d->num_users());
    if (social.size() > 0) {  // each edge counts in two degrees
      const double total = std::accumulate(w.social_degree.begin(), w.social_degree.end(), 0.0);
      w.social_edge_weight = total / (2.0 * static_cast<double>(social.size()));
    }
  }
  if (c.validation > 0) d->train = std::move(all_train);
  return w;
}

// Appends cold-start rows (undefined `v`: none) to one side of `m`.
void append_cold(const at::Tensor& v, const std::vector<std::string>& cold_ids,
                 std::vector<std::string>* ids, std::vector<float>* vectors, int64_t* count) {
  if (!v.defined()) return;
  ids->insert(ids->end(), cold_ids.begin(), cold_ids.end());
  vectors->insert(vectors->end(), v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
  *count = static_cast<int64_t>(cold_ids.size());
}

// Fold-in (LightGCN without content): the items' layers 0..L-1, their
// degrees, the users' layer 0; with social edges also the users' layers
// 0..L-1, their social degrees and the relation's weight (friends).
void store_fold_in(model::Model& net, const at::Tensor& e0, const WholeGraph& w,
                   int64_t num_users, int64_t layers, serve::ModelFile* m) {
  const std::vector<at::Tensor> outputs = net.layer_outputs(e0);
  m->fold_layers = layers;
  for (int64_t l = 0; l < layers; ++l) {
    const at::Tensor items = outputs[static_cast<size_t>(l)].slice(0, num_users).contiguous();
    m->fold_item_layers.insert(m->fold_item_layers.end(), items.data_ptr<float>(),
                               items.data_ptr<float>() + items.numel());
    if (!w.social_degree.empty()) {  // friends' layers, for recommend --friends
      const at::Tensor users = outputs[static_cast<size_t>(l)].slice(0, 0, num_users).contiguous();
      m->fold_user_layers.insert(m->fold_user_layers.end(), users.data_ptr<float>(),
                                 users.data_ptr<float>() + users.numel());
    }
  }
  m->fold_social_degree = w.social_degree;
  m->fold_social_weight = w.social_weight;
  m->fold_social_edge_weight = w.social_edge_weight;
  m->fold_item_degree.assign(w.degree.begin() + num_users, w.degree.end());
  const at::Tensor users = e0.slice(0, 0, num_users).contiguous();
  m->fold_user_layer0.assign(users.data_ptr<float>(), users.data_ptr<float>() + users.numel());
}

}  // namespace

ExportReport run_export(const ExportOptions& o) {
  Stopwatch watch;
  // One writer for model.h5 and its index at a time; then key, checkpoints
  // and output are checked before any work.
  const PathLock lock = lock_output({"--out", o.out}, false);
  ExportStart s = start_export(o);
  check_output_file({"--out", o.out}, s.inputs, serve::is_model_file);
  Phases phases("export");
  data::Dataset d = data::read_dataset(s.dataset);
  phases.done("read the dataset");
  const std::string fingerprint = d.fingerprint();
  const int64_t U = d.num_users(), n = d.num_users() + d.num_items();
  std::vector<int64_t> all(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) all[static_cast<size_t>(k)] = k;
  const checkpoint::Content content = load_newest(&s, fingerprint, all, s.dataset);
  const train::TrainConfig& c = s.config;
  phases.done("read the checkpoint");

  const WholeGraph w = whole_graph(&d, c, social_file_for(o, s));
  const model::LocalGraph g =
      model::make_local_graph(n, w.adjacency.indptr, w.adjacency.col, w.adjacency.value, true);
  OneProcess one;
  auto net = one.model(c, g, all);
  train::NodeFeatures features;
  const bool with_features = !c.item_features.empty() || !c.user_features.empty();
  if (with_features) {
    features = train::load_features(c, s.dataset);
    net = train::attach_content(std::move(net), c, features, all, U,
                                at::TensorOptions().dtype(at::kFloat));
  }
  at::NoGradGuard no_grad;
  const std::vector<at::Tensor> dense = load_dense(*net, content, s.dir());
  // model.score cosine: stored as unit vectors, so every reader's dot product
  // is the model's score.
  const at::Tensor final_vectors =
      model::scoring_vectors(net->forward(content.e0, 0, false), c.score == train::Score::kCosine)
          .contiguous();
  phases.done("built the graph and ran the forward pass");

  serve::ModelFile m;
  m.user_ids = d.user_ids;
  m.item_ids = d.item_ids;
  m.dim = final_vectors.size(1);
  const float* p = final_vectors.data_ptr<float>();
  m.user_vectors.assign(p, p + U * m.dim);
  m.item_vectors.assign(p + U * m.dim, p + n * m.dim);
  append_cold(cold_vectors(true, features, c, dense), features.items.cold_ids, &m.item_ids,
              &m.item_vectors, &m.cold_items);
  append_cold(cold_vectors(false, features, c, dense), features.users.cold_ids, &m.user_ids,
              &m.user_vectors, &m.cold_users);
  if (c.model_type == train::ModelType::kLightgcn && c.layers > 0 && !with_features) {
    store_fold_in(*net, content.e0, w, U, c.layers, &m);
  }
  describe_model(s, content.state, fingerprint, o.dtype, &m);
  m.item_names = d.item_names;
  if (auto part = filter_part_for(s, content.state, fingerprint)) {
    attach_filter_part(std::move(*part), d, &m);
  }
  phases.done("assembled the model");
  ExportReport r;
  if (o.interests) {
    Stopwatch interest_watch;
    m.interests = serve::interests_for_all(
        static_cast<int64_t>(m.user_ids.size()), d.train.user, d.train.item,
        d.train.has_time ? d.train.time : std::vector<int64_t>{}, m.item_vectors, m.dim,
        o.interest_options);
    r.interests = m.interests.num_interests();
    r.interest_seconds = interest_watch.seconds();
    phases.done("found every user's interests");
  }
  if (!s.key.empty()) pseudonymize_users(m, s.key, m.cold_users);
  IndexSet index(o.out);
  if (!s.index.kind.empty()) {
    serve::ModelFile items;
    items.dim = m.dim;
    items.item_ids = m.item_ids;
    items.item_vectors = m.item_vectors;
    index.build(std::move(items), s.index, o.dtype, &m, &r);
    phases.done("built the index");
  }
  serve::write_model_file(m, o.out);
  index.commit(m.index_file);
  phases.done("wrote the model");

  r.checkpoint = s.dir();
  r.out = o.out;
  r.users = U;
  r.items = d.num_items();
  r.dim = m.dim;
  r.cold_items = m.cold_items;
  r.cold_users = m.cold_users;
  r.bytes = static_cast<int64_t>(std::filesystem::file_size(o.out));
  r.seconds = watch.seconds();
  r.peak_rss_mib = {static_cast<double>(peak_rss_bytes()) / (1 << 20)};
  return r;
}

}  // namespace halorec::exporting

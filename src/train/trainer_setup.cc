// Trainer setup: the shard, the model and its optimizer, sampler and
// evaluators, resume and warm start (trainer_run.h).

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/Parallel.h>
#include <c10/core/DeviceGuard.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <tuple>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "checkpoint/checkpoint.h"
#include "comm/exchange_plan.h"
#include "comm/row_exchange.h"
#include "core/check.h"
#include "core/digest.h"
#include "core/env.h"
#include "core/log.h"
#include "core/resources.h"
#include "data/dataset.h"
#include "model/local_graph.h"
#include "model/model.h"
#include "model/scoring.h"
#include "partition/shard_file.h"
#include "train/adam.h"
#include "train/bpr_step.h"
#include "train/content.h"
#include "train/contrastive_step.h"
#include "train/evaluator.h"
#include "train/lr_schedule.h"
#include "train/neighborhood.h"
#include "train/run_logs.h"
#include "train/sampler.h"
#include "train/selection.h"
#include "train/trainer_run.h"
#include "train/training_state.h"

namespace halorec::train {

// The partition (made when needed), checked against the dataset, and this
// rank's shard of it.
void Trainer::load_shard() {
  // Where this rank runs: multi-node launches are checked by this line (its
  // GPU, when it has one, is the node-local rank's).
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  log::info("rank {} of {} on {}, node-local rank {} of {}", comm_.rank(), P_, host,
            comm_.local_rank(), comm_.local_size());
  const std::string parts = ensure_partition(c_, comm_);
  info_ = data::read_dataset_info(c_.dataset);
  meta_ = partition::read_meta(parts);
  partition::check_partition_matches(meta_, parts, c_.dataset, info_.fingerprint);
  if (meta_.num_users != info_.num_users || meta_.num_items != info_.num_items) {
    HR_THROW(InputError, "partition '{}' has {} users and {} items, the dataset {} and {} "
             "(corrupt meta.h5?)", parts, meta_.num_users, meta_.num_items, info_.num_users,
             info_.num_items);
  }
  // A partition given by hand (data.parts) must carve what the config says.
  if (meta_.validation != c_.validation ||
      (c_.validation > 0 && meta_.validation_seed != static_cast<uint64_t>(c_.validation_seed))) {
    HR_THROW(InputError, "partition '{}' carves validation {} (seed {}), but data.validation is {} "
             "(data.validation_seed {}): re-run 'halorec partition --validation {} "
             "--validation-seed {}' or leave data.parts unset", parts, meta_.validation,
             meta_.validation_seed, c_.validation, c_.validation_seed, c_.validation,
             c_.validation_seed);
  }
  // ensure_partition remade a partition whose social edges are not data.social's.
  if (meta_.social_fingerprint.empty() != c_.social.empty()) {
    HR_THROW(InputError, "partition '{}' has {}, but data.social is {}: re-run 'halorec "
             "partition{}' or leave data.parts unset", parts,
             meta_.social_fingerprint.empty() ? "no social edges"
                                              : "social edges from " + meta_.social_path,
             c_.social.empty() ? "unset" : "'" + c_.social + "'",
             c_.social.empty() ? "" : " --social " + c_.social);
  }
  if (!c_.social.empty() && comm_.rank() == 0) {
    log::info("social: {} user-user edges from {} in the graph{}", meta_.num_social, c_.social,
              c_.model_type == ModelType::kMf ? " (model.type mf does not propagate: they change nothing)"
                                    : "");
  }
  shard_ = partition::read_shard(parts, comm_.rank(), meta_);
  log::info("shard: {} owned ({} halo), {} train interactions; {} threads, {}, {}",
            shard_.num_owned(), shard_.num_halo(), shard_.train.size(), threads_,
            device_.str(), comm_.backend());
}

// Graph, plans and tables on the device; the model (with content encoders),
// its parameters, the optimizer, sampler and evaluator.
void Trainer::build_model() {
  const TrainConfig& c = c_;
  // Minibatch training propagates the whole shard only to evaluate, without
  // autograd: no transpose. Its sampler keeps its own copy of the rows (by
  // global id), after which the shard's copy is released.
  const bool minibatch = c.propagation == Propagation::kMinibatch;
  graph_ = model::make_local_graph(shard_.num_owned() + shard_.num_halo(), shard_.indptr,
                                   shard_.col, shard_.value, P_ == 1, !minibatch);
  if (minibatch) {
    neighbors_ = std::make_unique<NeighborSampler>(
        shard_, meta_.owner, c.model_type == ModelType::kMf ? 0 : c.layers, c.fanouts, c.seed, comm_);
    std::vector<int64_t>().swap(shard_.col);
    std::vector<float>().swap(shard_.value);
  }
  if (device_.is_cuda()) {
    for (at::Tensor* t : {&graph_.indptr, &graph_.col, &graph_.val, &graph_.t_indptr,
                          &graph_.t_col, &graph_.t_val}) {
      if (t->defined()) *t = t->to(device_);
    }
  }
  halo_ = comm::make_exchange_plan(shard_.send_index, shard_.send_offsets, shard_.recv_offsets,
                                   at::TensorOptions().device(device_));
  owned_ids_ = at::tensor(shard_.owned, at::kLong).to(device_);
  owner_ = at::tensor(at::ArrayRef<int32_t>(meta_.owner), at::kInt).to(device_);
  const auto options = at::TensorOptions().dtype(at::kFloat).device(device_);

  model::ShardContext ctx{&graph_, &halo_, &comm_, owned_ids_};
  net_ = model::make_model(model_config(c), ctx, options);
  if (!c.item_features.empty() || !c.user_features.empty()) {
    const NodeFeatures features = load_features(c);
    if (comm_.rank() == 0) {
      for (const auto& [kind, f, on, path] :
           {std::tuple{"item", &features.items, features.has_items, c.item_features},
            std::tuple{"user", &features.users, features.has_users, c.user_features}}) {
        if (!on) continue;
        log::info("{} features {}: dim {}, {} of {} {}s{}, {} more not in the dataset "
                  "(cold-start; export gives them vectors); model.features {}",
                  kind, path, f->dim, static_cast<int64_t>(f->present.size()) - f->missing,
                  f->present.size(), kind,
                  f->missing > 0 ? fmt::format(" ({} without: zero)", f->missing) : "",
                  f->cold_ids.size(), c.features);
      }
    }
    net_ = attach_content(std::move(net_), c, features, shard_.owned, shard_.num_users, options);
  }
  at::Tensor e0 = model::initial_vectors(shard_.owned, c.dim, c.seed);
  if (const int64_t flip = positive_env("HALOREC_TEST_PERTURB_INIT"); flip > 0 && flip < 256) {
    // A testing aid: the low mantissa bits of every initial value flipped
    // (xor FLIP: a few units in the last place, as rounding makes). The
    // invariance tests measure how far training carries such a difference
    // and bound the ranks' reassociation by it (tests/train/traintest.py).
    e0.view(at::kInt).bitwise_xor_(static_cast<int32_t>(flip));
  }
  e0_ = e0.to(device_).requires_grad_(true);
  dense_ = net_->dense_parameters();
  params_ = {e0_};
  params_.insert(params_.end(), dense_.begin(), dense_.end());
  adam_ = std::make_unique<Adam>(params_, c.lr);
  sampler_ = std::make_unique<Sampler>(parse_sampler(c.sampler), c.seed, c.batch_size, shard_,
                                       meta_.owner, comm_);
  evaluator_ = std::make_unique<Evaluator>(shard_, c.topk, c.eval_batch_users,
                                           eval_user_fraction(shard_, c.eval_users, comm_),
                                           c.eval_items);
  if (c.validation > 0) {
    validator_ = std::make_unique<Evaluator>(
        shard_, c.topk, c.eval_batch_users,
        eval_user_fraction(shard_, c.eval_users, comm_, EvalSplit::kValidation),
        c.eval_items, EvalSplit::kValidation);
  }
  const bool cosine = c.score == Score::kCosine;
  inputs_ = BprInputs{net_.get(),      e0_,    owned_ids_, owner_,         shard_.num_users,
                      c.weight_decay, &comm_, cosine,     neighbors_.get()};
  loss_ = LossConfig{};
  loss_.kind = parse_loss(c.loss);
  loss_.negatives = c.negatives;
  loss_.margin = c.margin;
  loss_.negative_weight = c.negative_weight;
  loss_.temperature = c.temperature;
  loss_.cosine = cosine;
  if (c.in_batch_negatives) {
    loss_.in_batch = true;
    loss_.item_share = item_shares(shard_.train.item, shard_.num_items, comm_);
  }
  steps_per_epoch_ = sampler_->steps_per_epoch();
  identity_ = checkpoint::Identity{info_.fingerprint, name_of(c.model_type), c.dim, c.layers,
                                   meta_.social_fingerprint};
  trainable_ = TrainableState{&shard_.owned, e0_, dense_, adam_.get()};
}

// checkpoint.resume: rows by global id, so the writer's rank count does not
// matter.
void Trainer::resume() {
  if (c_.resume.empty()) return;
  const std::string where = c_.resume == "latest" ? ckpt_root_ : c_.resume;
  const std::vector<std::string> candidates = checkpoint::list_committed(where);
  if (candidates.empty() && c_.resume != "latest") {
    HR_THROW(CheckpointError, "checkpoint.resume: no committed checkpoint in '{}'", c_.resume);
  }
  if (candidates.empty()) {
    if (comm_.rank() == 0) {
      log::info("checkpoint.resume: latest, but no checkpoint in {} yet: starting fresh",
                ckpt_root_);
    }
    return;
  }
  Stopwatch load_watch;
  const std::string from = restore_newest_valid(candidates, trainable_, identity_, comm_, &state_);
  // The graph a run trains on depends on its validation carve.
  std::string yaml;
  checkpoint::read_identity(from, &yaml);
  const TrainConfig then = config_from_yaml(yaml, from + "/dense.h5 config");
  if (then.validation != c_.validation ||
      (c_.validation > 0 && then.validation_seed != c_.validation_seed)) {
    HR_THROW(CheckpointError, "'{}' was trained with data.validation {} (seed {}), this run has "
             "{} (seed {}): resume with the same carve", from, then.validation,
             then.validation_seed, c_.validation, c_.validation_seed);
  }
  if (state_.step_in_epoch > steps_per_epoch_) {
    HR_THROW(CheckpointError, "'{}' stopped at step {} of an epoch of {} steps: another "
             "train.batch_size, sampler or partition of the data?", from,
             state_.step_in_epoch, steps_per_epoch_);
  }
  if (comm_.rank() == 0) {
    log::info("resumed from {} at epoch {} step {} ({:.2f} s)", from, state_.epoch,
              state_.global_step, load_watch.seconds());
  }
}

// train.init_from: the rows of every owned node the checkpoint knows, matched
// by original id through the checkpoint's dataset (any rank count, any
// dataset: a grown one after prepare --append-to keeps old ids but shifts
// item node ids). Dense parameters come along when their shapes match; the
// optimizer and the schedule start fresh.
void Trainer::warm_start() {
  Stopwatch watch;
  const std::string dir = checkpoint::find_latest(c_.init_from);
  if (dir.empty()) {
    HR_THROW(CheckpointError, "train.init_from: no committed checkpoint in '{}'", c_.init_from);
  }
  std::string yaml;
  const checkpoint::Identity old_id = checkpoint::read_identity(dir, &yaml);
  const TrainConfig then = config_from_yaml(yaml, dir + "/dense.h5 config");
  if (old_id.model_type != name_of(c_.model_type) || old_id.dim != c_.dim) {
    HR_THROW(CheckpointError, "train.init_from: '{}' holds a {} model of dim {}, this run trains "
             "{} of dim {} (model.type, model.dim)", dir, old_id.model_type, old_id.dim,
             name_of(c_.model_type), c_.dim);
  }
  // The checkpoint's dataset: its own, or this one when the fingerprints agree.
  std::string old_path = then.dataset;
  if (old_id.dataset_fingerprint == info_.fingerprint) old_path = c_.dataset;
  std::error_code ec;
  if (!std::filesystem::exists(old_path, ec)) {
    HR_THROW(InputError, "train.init_from: '{}' was trained on '{}', which is gone: its ids map "
             "the rows to this dataset's", dir, old_path);
  }
  const data::DatasetInfo old_info = data::read_dataset_info(old_path);
  if (old_info.fingerprint != old_id.dataset_fingerprint) {
    HR_THROW(InputError, "train.init_from: '{}' is not the dataset '{}' was trained on (its "
             "fingerprint changed)", old_path, dir);
  }
  // Original ids of this rank's nodes; the checkpoint's node of each, if any.
  const int64_t U = shard_.num_users;
  const std::vector<std::string> mine = data::read_original_ids(c_.dataset, shard_.owned, U);
  std::unordered_map<std::string, int64_t> old_users, old_items;
  {
    std::vector<int64_t> all(static_cast<size_t>(old_info.num_users + old_info.num_items));
    std::iota(all.begin(), all.end(), 0);
    const std::vector<std::string> ids =
        data::read_original_ids(old_path, all, old_info.num_users);
    for (int64_t v = 0; v < static_cast<int64_t>(ids.size()); ++v) {
      (v < old_info.num_users ? old_users : old_items)[ids[static_cast<size_t>(v)]] = v;
    }
  }
  std::vector<std::pair<int64_t, int64_t>> known;  // (old node, local row)
  for (size_t k = 0; k < shard_.owned.size(); ++k) {
    const auto& table = shard_.owned[k] < U ? old_users : old_items;
    const auto it = table.find(mine[k]);
    if (it != table.end()) known.emplace_back(it->second, static_cast<int64_t>(k));
  }
  std::sort(known.begin(), known.end());
  std::vector<int64_t> old_nodes, rows;
  for (const auto& [v, k] : known) {
    old_nodes.push_back(v);
    rows.push_back(k);
  }
  const checkpoint::Content loaded = checkpoint::load_checkpoint(dir, old_nodes, old_id);
  at::NoGradGuard no_grad;
  if (!rows.empty()) {
    e0_.index_copy_(0, at::tensor(rows, at::kLong).to(device_), loaded.e0.to(device_));
  }
  bool dense_copied = false;
  if (loaded.dense.size() == dense_.size()) {
    bool same = true;
    for (size_t k = 0; k < dense_.size(); ++k) same = same && loaded.dense[k].sizes() == dense_[k].sizes();
    if (same) {
      for (size_t k = 0; k < dense_.size(); ++k) dense_[k].copy_(loaded.dense[k].to(device_));
      dense_copied = !dense_.empty();
    } else {
      HR_THROW(CheckpointError, "train.init_from: the dense parameters of '{}' have other shapes "
               "than this run's (model.layers, model.feature_widths, features?)", dir);
    }
  } else {
    HR_THROW(CheckpointError, "train.init_from: '{}' has {} dense parameters, this run's model {}",
             dir, loaded.dense.size(), dense_.size());
  }
  at::Tensor counts = at::tensor({static_cast<double>(rows.size()),
                                  static_cast<double>(shard_.owned.size())}, at::kDouble)
                          .to(device_);
  comm_.all_reduce(counts, comm::ReduceOp::kSum);
  counts = counts.cpu();
  if (comm_.rank() == 0) {
    log::info("warm start from {}: {} of {} nodes from its rows, {} new{} ({:.2f} s)", dir,
              static_cast<int64_t>(counts[0].item<double>()),
              static_cast<int64_t>(counts[1].item<double>()),
              static_cast<int64_t>(counts[1].item<double>() - counts[0].item<double>()),
              dense_copied ? ", dense parameters too" : "", watch.seconds());
  }
}

}  // namespace halorec::train

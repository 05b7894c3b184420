#include "train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/Parallel.h>
#include <c10/core/DeviceGuard.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <numeric>
#include <thread>
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
#include "train/neighborhood.h"
#include "train/run_logs.h"
#include "train/sampler.h"
#include "train/training_state.h"

namespace halorec::train {

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

std::atomic<int> g_signal{0};

void on_stop_signal(int sig) { g_signal.store(sig); }

// SIGTERM / SIGUSR1 (a scheduler's warning): finish the step, checkpoint, stop.
void install_signal_handlers() {
  g_signal.store(0);
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGUSR1, on_stop_signal);
}

// 0 on every rank when every element of `tensors` is finite on every rank,
// else NaN: finite * 0 is 0, NaN and Inf times 0 are NaN, and NaN survives
// the sum over ranks. One vectorized pass over the values (a float sum: it
// overflows only for values near 1e38, which are divergence anyway), no host
// sync of its own.
at::Tensor nonfinite_probe(const std::vector<at::Tensor>& tensors, const at::Device& device) {
  at::Tensor probe = at::zeros({1}, at::TensorOptions().dtype(at::kDouble).device(device));
  for (const at::Tensor& t : tensors) {
    if (t.defined() && t.numel() > 0) probe.add_(t.detach().sum().to(at::kDouble).mul(0.0));
  }
  return probe;
}

// Collective: whether every parameter on every rank is finite.
bool parameters_finite(const std::vector<at::Tensor>& params, comm::Communicator& comm) {
  at::Tensor probe = nonfinite_probe(params, comm.device());
  comm.all_reduce(probe, comm::ReduceOp::kSum);
  return std::isfinite(probe.cpu().item<double>());
}

// What one epoch's steps add up to (for its record).
struct EpochStats {
  Stopwatch watch;
  std::vector<double> step_ms;
  int64_t skipped = 0;
  double sampled_nodes = 0, sampled_edges = 0;  // minibatch: summed over ranks and steps
  int64_t comm_rounds = 0;                       // this rank's, summed over its steps
};

// One rank's training run: setup (shard, graph, model, optimizer, sampler,
// evaluator, resume), the epoch loop (steps, then the epoch's record,
// evaluation, early stopping and checkpoint), and the run's end (digest, exit
// code, final record). Members in the order setup builds them: the model,
// sampler and evaluator point into the shard, graph and plan above them.
class Trainer {
 public:
  Trainer(const TrainConfig& c, comm::Communicator& comm, std::FILE* report,
          const RunOptions& run);
  TrainSummary run();

 private:
  enum class StepEnd { kNext, kStop, kSignal };

  void load_shard();
  void build_model();
  void resume();
  void warm_start();
  StepEnd step(EpochStats* st);
  bool run_epoch();  // false: leave the loop where it stands
  bool close_epoch(const EpochStats& st);
  EvalResult evaluate_now();
  bool save_if_finite(const checkpoint::TrainState& position);
  TrainSummary finish();

  const TrainConfig& c_;
  comm::Communicator& comm_;
  std::FILE* report_;
  const int P_;
  const at::Device device_;
  const std::string ckpt_root_;
  Stopwatch total_;
  int64_t threads_ = 1;
  // Kernels launched without an explicit device (and LibTorch's streams) use
  // this rank's GPU.
  c10::OptionalDeviceGuard device_guard_;

  data::DatasetInfo info_;
  partition::PartitionMeta meta_;
  partition::Shard shard_;
  model::LocalGraph graph_;
  std::unique_ptr<NeighborSampler> neighbors_;
  comm::ExchangePlan halo_;
  at::Tensor owned_ids_, owner_;
  std::unique_ptr<model::Model> net_;
  at::Tensor e0_;
  std::vector<at::Tensor> dense_, params_;
  std::unique_ptr<Adam> adam_;
  std::unique_ptr<Sampler> sampler_;
  std::unique_ptr<Evaluator> evaluator_;
  std::unique_ptr<Evaluator> validator_;  // data.validation: the carved records
  BprInputs inputs_{};
  LossConfig loss_;
  int64_t steps_per_epoch_ = 0;
  bool progress_ = false;

  RunFolders folders_;  // rank 0: the run's locks, held until the run ends
  checkpoint::Identity identity_;
  checkpoint::TrainState state_;
  TrainableState trainable_{};
  std::unique_ptr<RunLogs> logs_;
  TrainSummary summary_;
  bool stop_ = false;
  bool signalled_ = false;
  bool finished_ = false;  // resumed from the end of a run that had ended
  std::string diverged_;  // why training stopped on non-finite values
  // HALOREC_TEST_SIGNAL_AT_STEP=<global step> (a testing aid): rank 0 raises
  // SIGUSR1 during that step, through the real handler, so tests can place a
  // scheduler's warning exactly (an epoch's last step, a mid-epoch one).
  int64_t signal_at_step_ = positive_env("HALOREC_TEST_SIGNAL_AT_STEP");
};

Trainer::Trainer(const TrainConfig& c, comm::Communicator& comm, std::FILE* report,
                 const RunOptions& run)
    : c_(c),
      comm_(comm),
      report_(report),
      P_(comm.size()),
      device_(comm.device()),
      ckpt_root_(checkpoint_root(c)) {
  threads_ = thread_count(c.threads, comm.local_size(), "train.threads");
  at::set_num_threads(static_cast<int>(threads_));
  if (device_.is_cuda()) device_guard_.reset_device(device_);
  if (comm.rank() == 0) folders_ = prepare_run_folders(c, run);
  load_shard();
  build_model();
  // A progress line only for a person watching: not in a batch job's output
  // file (mpirun hands ranks a pseudo-terminal even there).
  const bool batch_job = std::getenv("SLURM_JOB_ID") != nullptr &&
                         std::getenv("SLURM_PTY_PORT") == nullptr;
  progress_ = comm.rank() == 0 && report == stdout && isatty(STDOUT_FILENO) && !batch_job;
  resume();
  if (state_.global_step == 0 && !c.init_from.empty()) warm_start();
  if (!state_.last_metrics_json.empty()) {
    const auto j = nlohmann::json::parse(state_.last_metrics_json, nullptr, false);
    if (j.is_object()) {
      for (const auto& [k, v] : j.items()) summary_.metrics[k] = v.get<double>();
    }
  }
  // A resumed run that had already ended (a requeued job, or --resume latest
  // once more): nothing to train, and its record stays as it is.
  if (state_.global_step > 0 && state_.epoch > c.epochs) {
    finished_ = true;
    if (comm.rank() == 0) {
      log::info("the run had already ended (epoch {} of train.epochs {}): nothing to train, its "
                "logs are left as they are; raise train.epochs to train on", state_.epoch - 1,
                c.epochs);
    }
    return;
  }
  // Setup passed every check: only now is the run folder's record changed.
  if (comm.rank() == 0) {
    write_text_atomically(c.output_dir + "/config.yaml", to_yaml(c));
    folders_.keep();
  }
  logs_ = std::make_unique<RunLogs>(c.output_dir, comm.rank() == 0, state_.epoch,
                                    state_.global_step);
  if (comm.rank() == 0) {
    log::info("{} ranks, {} steps per epoch ({} triples, batch {})", P_, steps_per_epoch_,
              sampler_->triples_per_epoch(), c.batch_size);
  }
}

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

// Collective: evaluates the current vectors; the metrics become the run's
// latest (summary, checkpointed position).
EvalResult Trainer::evaluate_now() {
  at::NoGradGuard no_grad;
  const at::Tensor final_owned = model::scoring_vectors(
      net_->forward(e0_.detach(), state_.global_step, false), inputs_.cosine);
  EvalResult r = evaluator_->evaluate(final_owned, comm_);
  if (validator_) {
    // Validation beside test, under its own names: val_recall@20, ...
    const EvalResult v = validator_->evaluate(final_owned, comm_);
    for (const auto& [name, value] : v.metrics) r.metrics[kValidationPrefix + name] = value;
    r.seconds += v.seconds;
  }
  nlohmann::json metrics_json = nlohmann::json::object();
  for (const auto& [name, value] : r.metrics) metrics_json[name] = value;
  summary_.metrics = r.metrics;
  summary_.eval_seconds = r.seconds;
  state_.last_metrics_json = metrics_json.dump();
  return r;
}

// A checkpoint holds finite values only: a step's check sees gradients, and
// this one the parameters an update left (an lr too large for float).
bool Trainer::save_if_finite(const checkpoint::TrainState& position) {
  if (!parameters_finite(params_, comm_)) {
    diverged_ = fmt::format("the parameters hold NaN/Inf after step {}", state_.global_step);
    return false;
  }
  // The logs reach the disk before the checkpoint does.
  logs_->flush();
  save_checkpoint(ckpt_root_, trainable_, position, identity_, c_, comm_);
  return true;
}

// One step: sample, forward and backward, reduce the dense gradients, one
// all-reduce of the loss and flags, the update (when finite), the step's log.
Trainer::StepEnd Trainer::step(EpochStats* st) {
  const int64_t epoch = state_.epoch;
  const int64_t s = state_.step_in_epoch;
  Stopwatch step_watch;
  const int64_t rounds_before = comm_.rounds();
  adam_->set_lr(learning_rate(c_, state_.global_step, steps_per_epoch_) * state_.lr_scale);
  const Triples t = sampler_->sample(epoch, s);
  const StepResult result =
      loss_.kind == LossKind::kBpr
          ? bpr_forward_backward(inputs_, t, state_.global_step)
          : contrastive_forward_backward(
                inputs_, t, shared_negatives(c_.seed, epoch, s, c_.negatives, shard_.num_items),
                loss_, state_.global_step);
  reduce_dense_grads(dense_, comm_);
  // One all-reduce: the step's global loss, whether any rank got a stop
  // signal, and whether any rank's loss or gradients are NaN/Inf (before
  // the update, so a bad step never reaches the parameters).
  std::vector<at::Tensor> grads;
  for (const at::Tensor& p : params_) grads.push_back(p.grad());
  grads.push_back(result.grad);
  if (state_.global_step + 1 == signal_at_step_ && comm_.rank() == 0) std::raise(SIGUSR1);
  at::Tensor shared = at::cat(
      {at::tensor({result.loss, g_signal.load() != 0 ? 1.0 : 0.0,
                   static_cast<double>(result.sampled_nodes),
                   static_cast<double>(result.sampled_edges)},
                  at::kDouble)
           .to(device_),
       nonfinite_probe(grads, device_)});
  comm_.all_reduce(shared, comm::ReduceOp::kSum);
  shared = shared.cpu();
  const double global_loss = shared[0].item<double>();
  const bool finite = std::isfinite(global_loss) && std::isfinite(shared[4].item<double>());
  st->sampled_nodes += shared[2].item<double>();
  st->sampled_edges += shared[3].item<double>();
  if (finite) {
    adam_->step(result.rows, result.grad);
    state_.loss_sum += global_loss;
    ++state_.steps_run;
  } else {
    ++st->skipped;
    ++summary_.skipped_steps;
  }
  adam_->zero_grad();
  ++state_.global_step;
  st->comm_rounds += comm_.rounds() - rounds_before;
  st->step_ms.push_back(step_watch.seconds() * 1e3);
  logs_->step(state_.global_step, epoch, global_loss, st->step_ms.back());
  if (!finite) {
    if (c_.on_nonfinite == OnNonfinite::kStop) {
      diverged_ = fmt::format("the loss or a gradient is {} at step {} (epoch {}, global "
                              "loss {})", std::isnan(global_loss) ? "NaN" : "not finite",
                              state_.global_step, epoch, global_loss);
      return StepEnd::kStop;
    }
    if (comm_.rank() == 0 && st->skipped <= 3) {
      log::warn("train.on_nonfinite: skip: step {} has a NaN/Inf loss or gradient; its "
                "update is skipped", state_.global_step);
    }
  }
  if (progress_ && (s % 10 == 0 || s + 1 == steps_per_epoch_)) {
    const double rate = static_cast<double>(st->step_ms.size()) / st->watch.seconds();
    fmt::print("\repoch {} step {}/{}  {:.1f} steps/s  ETA {:.0f} s   ", epoch, s + 1,
               steps_per_epoch_, rate, static_cast<double>(steps_per_epoch_ - s - 1) / rate);
    std::fflush(stdout);
  }
  return shared[1].item<double>() > 0 ? StepEnd::kSignal : StepEnd::kNext;
}

// The steps of the epoch in progress (from state_.step_in_epoch), then its
// end. True when the loop goes on to the next epoch.
bool Trainer::run_epoch() {
  EpochStats st;
  for (; state_.step_in_epoch < steps_per_epoch_; ++state_.step_in_epoch) {
    if (c_.max_steps > 0 && state_.global_step >= c_.max_steps) {
      stop_ = true;
      break;
    }
    const StepEnd end = step(&st);
    if (end == StepEnd::kStop) {
      stop_ = true;
      break;
    }
    if (end == StepEnd::kSignal) {
      signalled_ = true;
      stop_ = true;
      ++state_.step_in_epoch;
      break;
    }
  }
  if (progress_) fmt::print("\n");
  if (!diverged_.empty()) return false;
  const bool epoch_done = state_.step_in_epoch >= steps_per_epoch_;
  if (epoch_done && state_.steps_run == 0 && st.skipped > 0) {
    diverged_ = fmt::format("every step of epoch {} had a NaN/Inf loss or gradient ({} skipped)",
                            state_.epoch, st.skipped);
    return false;
  }
  // Said before the checkpoint (here, or close_epoch's when the signal came
  // in the epoch's last step): once it is committed the ranks exit 75, and a
  // launcher that ends a job at its first non-zero exit (srun
  // --kill-on-bad-exit) may stop rank 0 before a later line is out.
  if (signalled_ && comm_.rank() == 0) {
    log::info("stopped by a signal after step {}: writing its checkpoint; continue with "
              "--resume", state_.global_step);
  }
  if (stop_ && !epoch_done) {
    // Stopped inside the epoch: checkpoint the exact position first, so a
    // resumed run continues as if never interrupted.
    if (!signalled_) {
      // train.max_steps ended the run here: the final record reports these
      // steps (loss, timing) and, like a last epoch, an evaluation.
      if (state_.steps_run > 0) summary_.last_loss = state_.loss_sum / state_.steps_run;
      summary_.step_ms_median = median(st.step_ms);
      if (c_.eval_every > 0) evaluate_now();
    }
    save_if_finite(state_);
    return false;
  }
  if (state_.steps_run == 0) return false;
  return close_epoch(st);
}

// A finished epoch: its record (and evaluation, early stopping), its line on
// the report, and its checkpoint. False when the checkpoint was refused
// (non-finite parameters).
bool Trainer::close_epoch(const EpochStats& st) {
  const TrainConfig& c = c_;
  const int64_t epoch = state_.epoch;
  const double epoch_loss = state_.loss_sum / static_cast<double>(state_.steps_run);
  const double epoch_seconds = st.watch.seconds();
  const double step_ms = median(st.step_ms);
  nlohmann::json record = {
      {"epoch", epoch},
      {"step", state_.global_step},
      {"loss", epoch_loss},
      {"epoch_seconds", epoch_seconds},
      {"step_ms_median", step_ms},
      {"edges_per_second", static_cast<double>(sampler_->triples_per_epoch()) / epoch_seconds}};
  if (st.skipped > 0) record["skipped_steps"] = st.skipped;
  if (P_ > 1 && !st.step_ms.empty()) {
    // Rank 0's synchronizing rounds per step: each a network round trip
    // between nodes (docs/benchmarks.md, "Between nodes").
    record["comm_rounds_per_step"] =
        static_cast<double>(st.comm_rounds) / static_cast<double>(st.step_ms.size());
  }
  if (neighbors_) {
    // Mean per rank and step: the working set that train.fanouts sets.
    const double n = static_cast<double>(st.step_ms.size()) * P_;
    record["sampled_nodes"] = n > 0 ? st.sampled_nodes / n : 0.0;
    record["sampled_edges"] = n > 0 ? st.sampled_edges / n : 0.0;
  }
  if (c.lr_schedule != LrSchedule::kConstant || c.warmup_steps > 0) record["lr"] = adam_->lr();
  const bool last = epoch == c.epochs;
  bool improved = false;
  if (c.eval_every > 0 && (epoch % c.eval_every == 0 || last)) {
    const EvalResult r = evaluate_now();
    record["eval_seconds"] = r.seconds;
    for (const auto& [name, value] : r.metrics) record[name] = value;
    // With a validation carve, selection watches validation, never test.
    const std::string watched_name = (validator_ ? kValidationPrefix : "") + c.eval_metric;
    const double watched = r.metrics.at(watched_name);
    if (watched > state_.best) {
      state_.best = watched;
      state_.since_best = 0;
      improved = true;
    } else {
      ++state_.since_best;
      if (c.lr_schedule == LrSchedule::kPlateau && state_.since_best % c.plateau_patience == 0) {
        // Not below train.lr_min.
        const double floor = c.lr_min / c.lr;
        if (state_.lr_scale > floor) {
          state_.lr_scale = std::max(floor, state_.lr_scale * c.lr_decay);
          if (comm_.rank() == 0) {
            log::info("plateau: {} did not improve for {} evaluations; lr now {:.3g}",
                      watched_name, c.plateau_patience, c.lr * state_.lr_scale);
          }
        }
      }
      if (c.patience > 0 && state_.since_best >= c.patience) {
        if (comm_.rank() == 0) {
          log::info("early stop: {} did not improve for {} evaluations", watched_name,
                    c.patience);
        }
        stop_ = true;
      }
    }
  }
  logs_->record(record.dump());
  logs_->flush();
  if (comm_.rank() == 0) {
    std::string line = fmt::format("epoch {:>3}  loss {:.5f}  {:.1f} s  step {:.1f} ms", epoch,
                                   epoch_loss, epoch_seconds, step_ms);
    if (record.contains("sampled_nodes")) {
      line += fmt::format("  {:.0f} nodes/rank-step", record["sampled_nodes"].get<double>());
    }
    if (record.contains("eval_seconds")) {
      for (const auto& [name, value] : summary_.metrics) {
        line += fmt::format("  {} {:.4f}", name, value);
      }
      line += fmt::format("  (eval {:.1f} s)", record["eval_seconds"].get<double>());
    }
    fmt::print(report_, "{}\n", line);
    std::fflush(report_);
  }
  summary_.epochs = epoch;
  summary_.last_loss = epoch_loss;
  summary_.step_ms_median = step_ms;
  checkpoint::TrainState next = state_;
  ++next.epoch;
  next.step_in_epoch = 0;
  next.loss_sum = 0;
  next.steps_run = 0;
  if (improved && c.keep_best) {
    // checkpoint.keep_best: the best validation position so far, alone in
    // <checkpoint root>/best.
    if (!parameters_finite(params_, comm_)) {
      diverged_ = fmt::format("the parameters hold NaN/Inf after step {}", state_.global_step);
      return false;
    }
    logs_->flush();
    save_checkpoint(best_checkpoint_root(c), trainable_, next, identity_, c, comm_, 1);
  }
  if (last || stop_ || (c.checkpoint_every > 0 && epoch % c.checkpoint_every == 0)) {
    return save_if_finite(next);
  }
  return true;
}

TrainSummary Trainer::run() {
  if (finished_) {
    summary_.steps = state_.global_step;
    summary_.seconds = total_.seconds();
    return summary_;
  }
  install_signal_handlers();
  while (state_.epoch <= c_.epochs && !stop_) {
    if (!run_epoch()) break;
    ++state_.epoch;
    state_.step_in_epoch = 0;
    state_.loss_sum = 0;
    state_.steps_run = 0;
  }
  return finish();
}

// The run's end: the replicated parameters' digest, the exit code, and (when
// the run completed) the final record with every rank's peak memory.
TrainSummary Trainer::finish() {
  summary_.steps = state_.global_step;
  summary_.seconds = total_.seconds();
  if (!dense_.empty()) {
    Sha256 sha;
    for (const at::Tensor& p : dense_) {
      const at::Tensor h = p.detach().cpu().contiguous();
      sha.update(h.data_ptr(), static_cast<size_t>(h.numel() * h.element_size()));
    }
    summary_.dense_digest = sha.hex();
    log::info("rank {}: replicated parameters sha256 {}", comm_.rank(), summary_.dense_digest);
  }
  // Done: every epoch ran, or early stopping ended the run. A signal or
  // non-finite values leave no "final" record: the run is not finished.
  const bool completed = diverged_.empty() && (!signalled_ || state_.epoch > c_.epochs);
  if (!diverged_.empty()) {
    summary_.exit_code = exit_code::kDiverged;
    if (comm_.rank() == 0) {
      const std::vector<std::string> kept = checkpoint::list_committed(ckpt_root_);
      log::error("training diverged: {}; nothing of it was checkpointed; {}; lower train.lr, or "
                 "set train.on_nonfinite: skip", diverged_,
                 kept.empty() ? std::string("there is no earlier checkpoint")
                              : "the newest good checkpoint is " + kept.front());
    }
  } else if (!completed) {
    summary_.exit_code = exit_code::kStopped;
  }
  // Every rank's peak resident memory, in the final record.
  const at::Tensor rss_all =
      comm_
          .all_gather_v(
              at::tensor({static_cast<double>(peak_rss_bytes()) / (1 << 20)}, at::kDouble)
                  .to(device_))
          .cpu();
  if (comm_.rank() == 0 && completed) {
    nlohmann::json final_record = {{"final", true},
                                   {"epochs", summary_.epochs},
                                   {"step", summary_.steps},
                                   {"loss", summary_.last_loss},
                                   {"step_ms_median", summary_.step_ms_median},
                                   {"seconds", summary_.seconds},
                                   {"ranks", P_}};
    std::vector<double> rss_mib(rss_all.data_ptr<double>(), rss_all.data_ptr<double>() + P_);
    final_record["peak_rss_mib"] = rss_mib;
    if (summary_.eval_seconds > 0) final_record["eval_seconds"] = summary_.eval_seconds;
    for (const auto& [name, value] : summary_.metrics) final_record[name] = value;
    logs_->record(final_record.dump());
  }
  return summary_;
}

}  // namespace

TrainSummary run_training(const TrainConfig& c, comm::Communicator& comm, std::FILE* report,
                          const RunOptions& run) {
  Trainer trainer(c, comm, report, run);
  return trainer.run();
}

}  // namespace halorec::train

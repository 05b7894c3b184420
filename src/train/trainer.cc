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
#include <functional>
#include <filesystem>
#include <fstream>
#include <thread>
#include <tuple>

#include <nlohmann/json.hpp>

#include "checkpoint/checkpoint.h"
#include "comm/exchange_plan.h"
#include "comm/row_exchange.h"
#include "core/check.h"
#include "core/digest.h"
#include "core/log.h"
#include "core/output_path.h"
#include "core/resources.h"
#include "core/staged_path.h"
#include "data/dataset.h"
#include "model/local_graph.h"
#include "model/model.h"
#include "partition/partition_job.h"
#include "partition/shard_file.h"
#include "train/adam.h"
#include "train/bpr_step.h"
#include "train/contrastive_step.h"
#include "train/content.h"
#include "train/training_state.h"
#include "train/evaluator.h"
#include "train/neighborhood.h"
#include "train/sampler.h"

namespace fs = std::filesystem;

namespace halorec::train {

namespace {


bool partition_usable(const std::string& dir, const std::string& fingerprint, int parts) {
  std::error_code ec;
  if (!fs::exists(dir + "/meta.h5", ec)) return false;
  try {
    const partition::PartitionMeta meta = partition::read_meta(dir, false);
    return meta.dataset_fingerprint == fingerprint && meta.num_parts == parts;
  } catch (const InputError&) {
    return false;
  }
}

void write_text_atomically(const std::string& path, const std::string& text) {
  StagedPath staged(path);
  {
    std::ofstream f(staged.temp());
    f << text;
    if (!f) HR_THROW(IoError, "cannot write '{}'", path);
  }
  staged.commit();
}

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

// Rewrites a log keeping the lines `keep` accepts (when `active`).
void keep_log_lines(const std::string& path, const std::function<bool(const std::string&)>& keep,
                    bool active) {
  std::error_code ec;
  if (!active || !fs::exists(path, ec)) return;
  std::ifstream in(path);
  std::string kept, line;
  while (std::getline(in, line)) {
    if (keep(line)) kept += line + "\n";
  }
  write_text_atomically(path, kept);
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

// Rank 0, before any work: the run's folders follow the output rule, and a
// fresh run does not mix with another run's checkpoints.
void prepare_run_folders(const TrainConfig& c, const std::string& ckpt_root,
                         const RunOptions& run) {
  std::vector<NamedPath> inputs = {{"data.dataset", c.dataset}};
  if (!c.item_features.empty()) inputs.push_back({"data.item_features", c.item_features});
  if (!c.user_features.empty()) inputs.push_back({"data.user_features", c.user_features});
  const std::string ckpt_key = c.checkpoint_dir.empty() ? "output.dir" : "checkpoint.dir";
  check_output_folder({"output.dir", c.output_dir}, "run", inputs, run.force, true);
  check_output_folder({ckpt_key, ckpt_root}, "checkpoints", inputs, run.force, true);
  if (!c.parts.empty()) {
    // A stale partition there is replaced: HaloRec's own, never a user's folder.
    check_output_folder({"data.parts", c.parts}, "partition", inputs, true, true);
  }
  const std::vector<std::string> earlier = checkpoint::list_committed(ckpt_root);
  if (c.resume.empty() && !earlier.empty()) {
    if (!run.force) {
      HR_THROW(UsageError,
               "{} '{}' holds {} committed checkpoint(s) of an earlier run (newest: {}); "
               "continue that run with --resume latest, or give --force to start over (which "
               "removes those checkpoints and the run's logs, nothing else)",
               ckpt_key, c.checkpoint_dir.empty() ? c.output_dir : c.checkpoint_dir,
               earlier.size(), earlier.front());
    }
    for (const std::string& dir : earlier) {
      std::error_code ec;
      fs::remove_all(dir, ec);
      if (ec) HR_THROW(IoError, "--force: cannot remove '{}': {}", dir, ec.message());
    }
    for (const char* log_file : {"metrics.jsonl", "steps.csv"}) {
      std::error_code ec;
      fs::remove(fs::path(c.output_dir) / log_file, ec);
    }
    log::warn("--force: removed {} checkpoint(s) of an earlier run from {} and its logs",
              earlier.size(), ckpt_root);
  }
  make_marked_folder(c.output_dir, "run", "output.dir");
  make_marked_folder(ckpt_root, "checkpoints", ckpt_key);
  for (const std::string& dir : checkpoint::remove_uncommitted(ckpt_root)) {
    log::warn("removed {}: a checkpoint that was never committed (a job ended while writing it)",
              dir);
  }
}

}  // namespace

std::string ensure_partition(const TrainConfig& c, comm::Communicator& comm) {
  const std::string dir = c.parts.empty() ? c.output_dir + "/parts" : c.parts;
  if (comm.rank() == 0) {
    const data::DatasetInfo info = data::read_dataset_info(c.dataset);
    if (!partition_usable(dir, info.fingerprint, comm.size())) {
      log::info("partitioning {} into {} parts by {} -> {}", c.dataset, comm.size(),
                c.partition_method, dir);
      partition::PartitionOptions o;
      o.dataset = c.dataset;
      o.parts = comm.size();
      o.method = partition::parse_method(c.partition_method);
      o.seed = c.seed;
      o.out = dir;
      o.out_option = "data.parts";
      o.force = true;  // HaloRec's own partition only (core/output_path.h)
      fs::create_directories(fs::path(dir).parent_path().empty() ? "." : fs::path(dir).parent_path());
      const partition::PartitionResult r = partition::run_partition(o);
      log::info("partition: halo {} rows, imbalance nodes {:.3f} edges {:.3f}",
                r.stats.halo_volume_total, r.stats.node_imbalance, r.stats.edge_imbalance);
    }
  }
  // The other ranks wait for as long as rank 0 partitions: no timeout here.
  comm::UnlimitedWait unlimited(comm);
  comm.barrier();
  return dir;
}

TrainSummary run_training(const TrainConfig& c, comm::Communicator& comm, std::FILE* report,
                          const RunOptions& run) {
  Stopwatch total;
  const int P = comm.size();
  const int64_t threads =
      c.threads > 0 ? c.threads
                    : std::max<int64_t>(1, std::thread::hardware_concurrency() / comm.local_size());
  at::set_num_threads(static_cast<int>(threads));
  const bool cuda = comm.device().is_cuda();
  const at::Device device = comm.device();
  // Kernels launched without an explicit device (and LibTorch's streams) use
  // this rank's GPU.
  c10::OptionalDeviceGuard device_guard;
  if (cuda) device_guard.reset_device(device);

  const std::string ckpt_root =
      c.checkpoint_dir.empty() ? c.output_dir + "/checkpoints" : c.checkpoint_dir;
  if (comm.rank() == 0) {
    prepare_run_folders(c, ckpt_root, run);
    write_text_atomically(c.output_dir + "/config.yaml", to_yaml(c));
  }
  const std::string parts = ensure_partition(c, comm);
  const data::DatasetInfo info = data::read_dataset_info(c.dataset);
  const partition::PartitionMeta meta = partition::read_meta(parts);
  partition::check_partition_matches(meta, parts, c.dataset, info.fingerprint);
  if (meta.num_users != info.num_users || meta.num_items != info.num_items) {
    HR_THROW(InputError, "partition '{}' has {} users and {} items, the dataset {} and {} "
             "(corrupt meta.h5?)", parts, meta.num_users, meta.num_items, info.num_users,
             info.num_items);
  }
  partition::Shard shard = partition::read_shard(parts, comm.rank(), meta);
  const int64_t U = shard.num_users;
  log::info("shard: {} owned ({} halo), {} train interactions; {} threads, {}, {}",
            shard.num_owned(), shard.num_halo(), shard.train.size(), threads, device.str(),
            comm.backend());

  // Graph, plans and tables on the device.
  // Minibatch training propagates the whole shard only to evaluate, without
  // autograd: no transpose. Its sampler keeps its own copy of the rows (by
  // global id), after which the shard's copy is released.
  const bool minibatch = c.propagation == "minibatch";
  model::LocalGraph graph = model::make_local_graph(shard.num_owned() + shard.num_halo(),
                                                    shard.indptr, shard.col, shard.value, P == 1,
                                                    !minibatch);
  std::unique_ptr<NeighborSampler> neighbors;
  if (minibatch) {
    neighbors = std::make_unique<NeighborSampler>(
        shard, meta.owner, c.model_type == "mf" ? 0 : c.layers, c.fanouts, c.seed, comm);
    std::vector<int64_t>().swap(shard.col);
    std::vector<float>().swap(shard.value);
  }
  if (cuda) {
    for (at::Tensor* t : {&graph.indptr, &graph.col, &graph.val, &graph.t_indptr, &graph.t_col,
                          &graph.t_val}) {
      if (t->defined()) *t = t->to(device);
    }
  }
  const comm::ExchangePlan halo = comm::make_exchange_plan(
      shard.send_index, shard.send_offsets, shard.recv_offsets, at::TensorOptions().device(device));
  const at::Tensor owned_ids = at::tensor(shard.owned, at::kLong).to(device);
  const at::Tensor owner = at::tensor(at::ArrayRef<int32_t>(meta.owner), at::kInt).to(device);
  const auto options = at::TensorOptions().dtype(at::kFloat).device(device);

  const model::ModelConfig mc = model_config(c);
  model::ShardContext ctx{&graph, &halo, &comm, owned_ids};
  auto net = model::make_model(mc, ctx, options);
  if (!c.item_features.empty() || !c.user_features.empty()) {
    const NodeFeatures features = load_features(c);
    if (comm.rank() == 0) {
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
    net = attach_content(std::move(net), c, features, shard.owned, U, options);
  }
  at::Tensor e0 = model::initial_vectors(shard.owned, c.dim, c.seed).to(device).requires_grad_(true);
  const std::vector<at::Tensor> dense = net->dense_parameters();
  std::vector<at::Tensor> params = {e0};
  params.insert(params.end(), dense.begin(), dense.end());
  Adam adam(params, c.lr);
  const Sampler sampler(c.sampler, c.seed, c.batch_size, shard, meta.owner, comm);
  const Evaluator evaluator(shard, c.topk, c.eval_batch_users,
                            eval_user_fraction(shard, c.eval_users, comm),
                            parse_item_placement(c.eval_items, "eval.items"));
  const bool cosine = c.score == "cosine";
  const BprInputs bpr_inputs{net.get(), e0,     owned_ids, owner,           U,
                             c.weight_decay, &comm, cosine,    neighbors.get()};
  const LossConfig loss{c.loss, c.negatives, c.margin, c.negative_weight, c.temperature, cosine};
  const int64_t steps_per_epoch = sampler.steps_per_epoch();
  // A progress line only for a person watching: not in a batch job's output
  // file (mpirun hands ranks a pseudo-terminal even there).
  const bool batch_job = std::getenv("SLURM_JOB_ID") != nullptr &&
                         std::getenv("SLURM_PTY_PORT") == nullptr;
  const bool progress =
      comm.rank() == 0 && report == stdout && isatty(STDOUT_FILENO) && !batch_job;

  // Resume: rows by global id, so the writer's rank count does not matter.
  checkpoint::Identity identity{info.fingerprint, c.model_type, c.dim, c.layers};
  checkpoint::TrainState state;
  TrainableState trainable{&shard.owned, e0, dense, &adam};
  if (!c.resume.empty()) {
    const std::string where = c.resume == "latest" ? ckpt_root : c.resume;
    const std::vector<std::string> candidates = checkpoint::list_committed(where);
    if (candidates.empty() && c.resume != "latest") {
      HR_THROW(CheckpointError, "checkpoint.resume: no committed checkpoint in '{}'", c.resume);
    }
    if (!candidates.empty()) {
      Stopwatch load_watch;
      const std::string from = restore_newest_valid(candidates, trainable, identity, comm, &state);
      if (state.step_in_epoch > steps_per_epoch) {
        HR_THROW(CheckpointError, "'{}' stopped at step {} of an epoch of {} steps: another "
                 "train.batch_size, sampler or partition of the data?", from,
                 state.step_in_epoch, steps_per_epoch);
      }
      if (comm.rank() == 0) {
        log::info("resumed from {} at epoch {} step {} ({:.2f} s)", from, state.epoch,
                  state.global_step, load_watch.seconds());
      }
    } else if (comm.rank() == 0) {
      log::info("checkpoint.resume: latest, but no checkpoint in {} yet: starting fresh",
                ckpt_root);
    }
  }

  std::ofstream metrics_file, steps_file;
  if (comm.rank() == 0) {
    // On resume, keep what the earlier run logged up to the checkpoint.
    keep_log_lines(c.output_dir + "/metrics.jsonl", [&](const std::string& line) {
      const auto j = nlohmann::json::parse(line, nullptr, false);
      return !j.is_discarded() && !j.contains("final") && j.value("epoch", 0) < state.epoch;
    }, state.global_step > 0);
    keep_log_lines(c.output_dir + "/steps.csv", [&](const std::string& line) {
      return line.rfind("step,", 0) == 0 || std::atoll(line.c_str()) <= state.global_step;
    }, state.global_step > 0);
    const bool fresh = state.global_step == 0;
    metrics_file.open(c.output_dir + "/metrics.jsonl", fresh ? std::ios::trunc : std::ios::app);
    if (!metrics_file) HR_THROW(IoError, "cannot write '{}/metrics.jsonl'", c.output_dir);
    steps_file.open(c.output_dir + "/steps.csv", fresh ? std::ios::trunc : std::ios::app);
    if (!steps_file) HR_THROW(IoError, "cannot write '{}/steps.csv'", c.output_dir);
    if (fresh) steps_file << "step,epoch,loss,ms\n";
    log::info("{} ranks, {} steps per epoch ({} triples, batch {})", P, steps_per_epoch,
              sampler.triples_per_epoch(), c.batch_size);
  }
  // The logs reach the disk before the checkpoint does: a run killed right
  // after the checkpoint resumes with every step up to it logged.
  // A log that cannot be written (disk full) is a storage error, not a
  // silently shorter log.
  auto flush_logs = [&] {
    metrics_file.flush();
    steps_file.flush();
    if (!metrics_file || !steps_file) {
      HR_THROW(IoError, "cannot write the logs in '{}' (metrics.jsonl, steps.csv): disk full?",
               c.output_dir);
    }
  };
  auto save = [&](const checkpoint::TrainState& position) {
    if (comm.rank() == 0) flush_logs();
    save_checkpoint(ckpt_root, trainable, position, identity, c, comm);
  };

  install_signal_handlers();
  TrainSummary summary;
  if (!state.last_metrics_json.empty()) {
    const auto j = nlohmann::json::parse(state.last_metrics_json, nullptr, false);
    if (j.is_object()) {
      for (const auto& [k, v] : j.items()) summary.metrics[k] = v.get<double>();
    }
  }
  // Collective: evaluates the current vectors; the metrics become the run's
  // latest (summary, checkpointed position).
  auto evaluate_now = [&] {
    at::NoGradGuard no_grad;
    const at::Tensor final_owned =
        scoring_vectors(net->forward(e0.detach(), state.global_step, false), cosine);
    const EvalResult r = evaluator.evaluate(final_owned, comm);
    nlohmann::json metrics_json = nlohmann::json::object();
    for (const auto& [name, value] : r.metrics) metrics_json[name] = value;
    summary.metrics = r.metrics;
    summary.eval_seconds = r.seconds;
    state.last_metrics_json = metrics_json.dump();
    return r;
  };
  bool stop = false;
  bool signalled = false;
  std::string diverged;  // why training stopped on non-finite values
  const std::vector<at::Tensor>& all_params = params;
  auto grads_of = [](const std::vector<at::Tensor>& ps) {
    std::vector<at::Tensor> grads;
    for (const at::Tensor& p : ps) grads.push_back(p.grad());
    return grads;
  };
  // A checkpoint holds finite values only: a step's check sees gradients, and
  // this one the parameters an update left (an lr too large for float).
  auto save_if_finite = [&](const checkpoint::TrainState& position) {
    if (!parameters_finite(all_params, comm)) {
      diverged = fmt::format("the parameters hold NaN/Inf after step {}", state.global_step);
      return false;
    }
    save(position);
    return true;
  };
  for (; state.epoch <= c.epochs && !stop; ++state.epoch, state.step_in_epoch = 0,
                                           state.loss_sum = 0, state.steps_run = 0) {
    const int64_t epoch = state.epoch;
    Stopwatch epoch_watch;
    std::vector<double> step_ms;
    int64_t epoch_skipped = 0;
    double sampled_nodes = 0, sampled_edges = 0;  // minibatch: summed over ranks and steps
    for (; state.step_in_epoch < steps_per_epoch; ++state.step_in_epoch) {
      if (c.max_steps > 0 && state.global_step >= c.max_steps) {
        stop = true;
        break;
      }
      const int64_t s = state.step_in_epoch;
      Stopwatch step_watch;
      adam.set_lr(learning_rate(c, state.global_step, steps_per_epoch));
      const Triples t = sampler.sample(epoch, s);
      const StepResult step =
          c.loss == "bpr"
              ? bpr_forward_backward(bpr_inputs, t, state.global_step)
              : contrastive_forward_backward(
                    bpr_inputs, t,
                    shared_negatives(c.seed, epoch, s, c.negatives, shard.num_items), loss,
                    state.global_step);
      reduce_dense_grads(dense, comm);
      // One all-reduce: the step's global loss, whether any rank got a stop
      // signal, and whether any rank's loss or gradients are NaN/Inf (before
      // the update, so a bad step never reaches the parameters).
      std::vector<at::Tensor> grads = grads_of(params);
      grads.push_back(step.grad);
      at::Tensor shared = at::cat(
          {at::tensor({step.loss, g_signal.load() != 0 ? 1.0 : 0.0,
                       static_cast<double>(step.sampled_nodes),
                       static_cast<double>(step.sampled_edges)},
                      at::kDouble)
               .to(device),
           nonfinite_probe(grads, device)});
      comm.all_reduce(shared, comm::ReduceOp::kSum);
      shared = shared.cpu();
      const double global_loss = shared[0].item<double>();
      const bool finite = std::isfinite(global_loss) && std::isfinite(shared[4].item<double>());
      sampled_nodes += shared[2].item<double>();
      sampled_edges += shared[3].item<double>();
      if (finite) {
        adam.step(step.rows, step.grad);
        state.loss_sum += global_loss;
        ++state.steps_run;
      } else {
        ++epoch_skipped;
        ++summary.skipped_steps;
      }
      adam.zero_grad();
      ++state.global_step;
      step_ms.push_back(step_watch.seconds() * 1e3);
      if (comm.rank() == 0) {
        steps_file << fmt::format("{},{},{:.17g},{:.3f}\n", state.global_step, epoch, global_loss,
                                  step_ms.back());
      }
      if (!finite) {
        if (c.on_nonfinite == "stop") {
          diverged = fmt::format("the loss or a gradient is {} at step {} (epoch {}, global "
                                 "loss {})", std::isnan(global_loss) ? "NaN" : "not finite",
                                 state.global_step, epoch, global_loss);
          stop = true;
          break;
        }
        if (comm.rank() == 0 && epoch_skipped <= 3) {
          log::warn("train.on_nonfinite: skip: step {} has a NaN/Inf loss or gradient; its "
                    "update is skipped", state.global_step);
        }
      }
      if (progress && (s % 10 == 0 || s + 1 == steps_per_epoch)) {
        const double rate = static_cast<double>(step_ms.size()) / epoch_watch.seconds();
        fmt::print("\repoch {} step {}/{}  {:.1f} steps/s  ETA {:.0f} s   ", epoch, s + 1,
                   steps_per_epoch, rate, static_cast<double>(steps_per_epoch - s - 1) / rate);
        std::fflush(stdout);
      }
      if (shared[1].item<double>() > 0) {
        signalled = true;
        stop = true;
        ++state.step_in_epoch;
        break;
      }
    }
    if (progress) fmt::print("\n");
    if (!diverged.empty()) break;
    const bool epoch_done = state.step_in_epoch >= steps_per_epoch;
    if (epoch_done && state.steps_run == 0 && epoch_skipped > 0) {
      diverged = fmt::format("every step of epoch {} had a NaN/Inf loss or gradient ({} skipped)",
                             epoch, epoch_skipped);
      break;
    }
    if (stop && !epoch_done) {
      // Stopped inside the epoch: checkpoint the exact position first, so a
      // resumed run continues as if never interrupted.
      if (!signalled) {
        // train.max_steps ended the run here: the final record reports these
        // steps (loss, timing) and, like a last epoch, an evaluation.
        if (state.steps_run > 0) summary.last_loss = state.loss_sum / state.steps_run;
        summary.step_ms_median = median(step_ms);
        if (c.eval_every > 0) evaluate_now();
      }
      if (!save_if_finite(state)) break;
      if (signalled && comm.rank() == 0) {
        log::info("stopped by a signal after step {}; continue with --resume", state.global_step);
      }
      break;
    }
    if (state.steps_run == 0) break;
    const double epoch_loss = state.loss_sum / static_cast<double>(state.steps_run);
    const double epoch_seconds = epoch_watch.seconds();
    nlohmann::json record = {{"epoch", epoch},
                             {"step", state.global_step},
                             {"loss", epoch_loss},
                             {"epoch_seconds", epoch_seconds},
                             {"step_ms_median", median(step_ms)},
                             {"edges_per_second",
                              static_cast<double>(sampler.triples_per_epoch()) / epoch_seconds}};
    if (epoch_skipped > 0) record["skipped_steps"] = epoch_skipped;
    if (neighbors) {
      // Mean per rank and step: the working set that train.fanouts sets.
      const double n = static_cast<double>(step_ms.size()) * P;
      record["sampled_nodes"] = n > 0 ? sampled_nodes / n : 0.0;
      record["sampled_edges"] = n > 0 ? sampled_edges / n : 0.0;
    }
    if (c.lr_schedule != "constant" || c.warmup_steps > 0) record["lr"] = adam.lr();
    const bool last = epoch == c.epochs;
    if (c.eval_every > 0 && (epoch % c.eval_every == 0 || last)) {
      const EvalResult r = evaluate_now();
      record["eval_seconds"] = r.seconds;
      for (const auto& [name, value] : r.metrics) record[name] = value;
      const double watched = r.metrics.at(c.eval_metric);
      if (watched > state.best) {
        state.best = watched;
        state.since_best = 0;
      } else if (c.patience > 0 && ++state.since_best >= c.patience) {
        if (comm.rank() == 0) {
          log::info("early stop: {} did not improve for {} evaluations", c.eval_metric,
                    c.patience);
        }
        stop = true;
      }
    }
    if (comm.rank() == 0) {
      metrics_file << record.dump() << "\n";
      flush_logs();
      std::string line = fmt::format("epoch {:>3}  loss {:.5f}  {:.1f} s  step {:.1f} ms",
                                     epoch, epoch_loss, epoch_seconds, median(step_ms));
      if (record.contains("sampled_nodes")) {
        line += fmt::format("  {:.0f} nodes/rank-step", record["sampled_nodes"].get<double>());
      }
      if (record.contains("eval_seconds")) {
        for (const auto& [name, value] : summary.metrics) {
          line += fmt::format("  {} {:.4f}", name, value);
        }
        line += fmt::format("  (eval {:.1f} s)", record["eval_seconds"].get<double>());
      }
      fmt::print(report, "{}\n", line);
      std::fflush(report);
    }
    summary.epochs = epoch;
    summary.last_loss = epoch_loss;
    summary.step_ms_median = median(step_ms);
    checkpoint::TrainState next = state;
    ++next.epoch;
    next.step_in_epoch = 0;
    next.loss_sum = 0;
    next.steps_run = 0;
    const bool finished = last || stop;
    if (finished || (c.checkpoint_every > 0 && epoch % c.checkpoint_every == 0)) {
      if (!save_if_finite(next)) break;
    }
  }
  const int64_t global_step = state.global_step;
  summary.steps = global_step;
  summary.seconds = total.seconds();
  if (!dense.empty()) {
    Sha256 sha;
    for (const at::Tensor& p : dense) {
      const at::Tensor h = p.detach().cpu().contiguous();
      sha.update(h.data_ptr(), static_cast<size_t>(h.numel() * h.element_size()));
    }
    summary.dense_digest = sha.hex();
    log::info("rank {}: replicated parameters sha256 {}", comm.rank(), summary.dense_digest);
  }
  // Done: every epoch ran, or early stopping ended the run. A signal or
  // non-finite values leave no "final" record: the run is not finished.
  const bool completed = diverged.empty() && (!signalled || state.epoch > c.epochs);
  if (!diverged.empty()) {
    summary.exit_code = exit_code::kDiverged;
    if (comm.rank() == 0) {
      const std::vector<std::string> kept = checkpoint::list_committed(ckpt_root);
      log::error("training diverged: {}; nothing of it was checkpointed; {}; lower train.lr, or "
                 "set train.on_nonfinite: skip", diverged,
                 kept.empty() ? std::string("there is no earlier checkpoint")
                              : "the newest good checkpoint is " + kept.front());
    }
  } else if (!completed) {
    summary.exit_code = exit_code::kStopped;
  }
  // Every rank's peak resident memory, in the final record.
  const at::Tensor rss_all =
      comm.all_gather_v(at::tensor({static_cast<double>(peak_rss_bytes()) / (1 << 20)}, at::kDouble)
                            .to(device))
          .cpu();
  if (comm.rank() == 0 && completed) {
    nlohmann::json final_record = {{"final", true},
                                   {"epochs", summary.epochs},
                                   {"step", summary.steps},
                                   {"loss", summary.last_loss},
                                   {"step_ms_median", summary.step_ms_median},
                                   {"seconds", summary.seconds},
                                   {"ranks", P}};
    std::vector<double> rss_mib(rss_all.data_ptr<double>(), rss_all.data_ptr<double>() + P);
    final_record["peak_rss_mib"] = rss_mib;
    if (summary.eval_seconds > 0) final_record["eval_seconds"] = summary.eval_seconds;
    for (const auto& [name, value] : summary.metrics) final_record[name] = value;
    metrics_file << final_record.dump() << "\n";
  }
  return summary;
}

}  // namespace halorec::train

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
#include "train/hybrid.h"
#include "serve/model_file.h"
#include "train/lr_schedule.h"
#include "train/neighborhood.h"
#include "train/run_logs.h"
#include "train/sampler.h"
#include "train/selection.h"
#include "train/trainer_run.h"
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

}  // namespace

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
  // On stderr (stdout is for results: `train > log` keeps no \r lines),
  // under --json too.
  progress_ = comm.rank() == 0 && isatty(STDERR_FILENO) && !batch_job;
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
// this one the parameters an update left (an lr too large for float). Into
// the run's checkpoints, or (checkpoint.keep_best, best) alone in
// <checkpoint root>/best.
bool Trainer::save_if_finite(const checkpoint::TrainState& position, bool best) {
  if (!parameters_finite(params_, comm_)) {
    diverged_ = fmt::format("the parameters hold NaN/Inf after step {}", state_.global_step);
    return false;
  }
  // The logs reach the disk before the checkpoint does.
  logs_->flush();
  save_checkpoint(best ? best_checkpoint_root(c_) : ckpt_root_, trainable_, position, identity_,
                  c_, comm_, best ? 1 : 0);
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
    const double epoch_left = static_cast<double>(steps_per_epoch_ - s - 1) / rate;
    // The run's time left: this epoch's, then the later epochs at the mean
    // time of the epochs this process has run (evaluations included), or at
    // this epoch's rate before the first one ends.
    const double run_left =
        epoch_left + epochs_left_seconds(epoch, static_cast<double>(steps_per_epoch_) / rate);
    fmt::print(stderr, "\repoch {}/{} step {}/{}  {:.1f} steps/s  epoch ETA {}  run ETA {}   ",
               epoch, c_.epochs, s + 1, steps_per_epoch_, rate, duration_text(epoch_left),
               duration_text(run_left));
    std::fflush(stderr);
  }
  return shared[1].item<double>() > 0 ? StepEnd::kSignal : StepEnd::kNext;
}

// The epochs after `epoch` at the mean time of those this process has
// closed (evaluations included), or at `guess` seconds each before one has.
double Trainer::epochs_left_seconds(int64_t epoch, double guess) const {
  const double each =
      run_epochs_ > 0 ? run_epoch_seconds_ / static_cast<double>(run_epochs_) : guess;
  return each * static_cast<double>(std::max<int64_t>(0, c_.epochs - epoch));
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
  if (progress_) fmt::print(stderr, "\n");
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

// An epoch's record in metrics.jsonl, before its evaluation: loss, times,
// throughput and what the step measured.
nlohmann::json Trainer::epoch_record(const EpochStats& st) const {
  const double epoch_seconds = st.watch.seconds();
  nlohmann::json record = {
      {"epoch", state_.epoch},
      {"step", state_.global_step},
      {"loss", state_.loss_sum / static_cast<double>(state_.steps_run)},
      {"epoch_seconds", epoch_seconds},
      {"step_ms_median", median(st.step_ms)},
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
  if (c_.lr_schedule != LrSchedule::kConstant || c_.warmup_steps > 0) record["lr"] = adam_->lr();
  return record;
}

// A finished epoch: its record (and evaluation, selection), its line on the
// report, and its checkpoint. False when the checkpoint was refused
// (non-finite parameters).
bool Trainer::close_epoch(const EpochStats& st) {
  const TrainConfig& c = c_;
  const int64_t epoch = state_.epoch;
  const bool last = epoch == c.epochs;
  nlohmann::json record = epoch_record(st);
  Selection selection;
  if (c.eval_every > 0 && (epoch % c.eval_every == 0 || last)) {
    const EvalResult r = evaluate_now();
    record["eval_seconds"] = r.seconds;
    for (const auto& [name, value] : r.metrics) record[name] = value;
    selection = select_after_evaluation(c, validator_ != nullptr, r.metrics, &state_,
                                        comm_.rank() == 0);
    const auto w = r.metrics.find(watched_metric(c, validator_ != nullptr));
    if (w != r.metrics.end()) watched_.push_back(w->second);
    stop_ = stop_ || selection.stop;
  }
  logs_->record(record.dump());
  logs_->flush();
  if (comm_.rank() == 0) {
    ++run_epochs_;
    run_epoch_seconds_ += record["epoch_seconds"].get<double>() +
                          (record.contains("eval_seconds") ? record["eval_seconds"].get<double>() : 0.0);
    fmt::print(report_, "{}\n", epoch_line(record, summary_.metrics, c.epochs,
                                          last ? -1.0 : epochs_left_seconds(epoch, 0)));
    std::fflush(report_);
  }
  summary_.epochs = epoch;
  summary_.last_loss = record["loss"].get<double>();
  epoch_losses_.push_back(summary_.last_loss);
  summary_.step_ms_median = record["step_ms_median"].get<double>();
  checkpoint::TrainState next = state_;
  ++next.epoch;
  next.step_in_epoch = 0;
  next.loss_sum = 0;
  next.steps_run = 0;
  if (selection.improved && c.keep_best && !save_if_finite(next, true)) return false;
  if (last || stop_ || (c.checkpoint_every > 0 && epoch % c.checkpoint_every == 0)) {
    return save_if_finite(next);
  }
  return true;
}

TrainSummary Trainer::run() {
  if (finished_) {
    summary_.steps = state_.global_step;
    // A finished run resumed with model.filter whose filter part is missing
    // or of another step: fitted now.
    if (c_.filter != "none" && !filter_part_current()) fit_filter_part();
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
  std::string underfit;
  if (completed && !stop_) underfit = underfit_warning();
  if (completed && c_.filter != "none" && !filter_part_current()) {
    fit_filter_part();
    summary_.seconds = total_.seconds();
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
    if (!underfit.empty()) final_record["underfit"] = underfit;
    for (const auto& [name, value] : summary_.metrics) final_record[name] = value;
    logs_->record(final_record.dump());
  }
  return summary_;
}


// A run that ends still improving says so (rank 0 logs it; the final record
// keeps it): its watched metric rose by more than 1 % at the last of two or
// more evaluations, or without them its loss fell by more than 1 % in the
// last epoch. Empty when neither holds.
std::string Trainer::underfit_warning() const {
  std::string what;
  const size_t n = watched_.size(), m = epoch_losses_.size();
  if (n >= 2 && watched_[n - 1] > watched_[n - 2] * 1.01 && watched_[n - 2] > 0) {
    what = fmt::format("{} still rose at the last evaluation ({:.4f} -> {:.4f}, +{:.1f} %)",
                       watched_metric(c_, validator_ != nullptr), watched_[n - 2], watched_[n - 1],
                       100 * (watched_[n - 1] / watched_[n - 2] - 1));
  } else if (n < 2 && m >= 2 && epoch_losses_[m - 1] < epoch_losses_[m - 2] * 0.99 &&
             epoch_losses_[m - 2] > 0) {
    what = fmt::format("the training loss still fell {:.1f} % in the last epoch ({:.5f} -> "
                       "{:.5f})", 100 * (1 - epoch_losses_[m - 1] / epoch_losses_[m - 2]),
                       epoch_losses_[m - 2], epoch_losses_[m - 1]);
  }
  if (what.empty()) return what;
  const std::string advice = fmt::format(
      "the run may be underfit: {}; raise train.epochs (now {}) or train.lr (now {}), start "
      "from a recipe in configs/ (configs/lastfm_hybrid.yaml for a small dataset), or let "
      "'halorec tune --dataset D --budget 10m' find one (docs/tune.md)", what, c_.epochs, c_.lr);
  if (comm_.rank() == 0) log::warn("{}", advice);
  return advice;
}

// Whether <checkpoint root>/filter.h5 is this run's filter fitted at this
// step (a resume of a finished run leaves it as it is).
bool Trainer::filter_part_current() const {
  std::error_code ec;
  if (!std::filesystem::exists(filter_part_path(), ec)) return false;
  const serve::FilterPart part = serve::read_filter_part(filter_part_path());
  return part.step == state_.global_step && part.settings.kind == c_.filter &&
         part.dataset_fingerprint == info_.fingerprint;
}

void Trainer::fit_filter_part() {
  at::NoGradGuard no_grad;
  const at::Tensor final_owned = model::scoring_vectors(
      net_->forward(e0_.detach(), state_.global_step, false), inputs_.cosine);
  const HybridResult h = fit_hybrid(c_, shard_, final_owned, comm_, filter_part_path(),
                                    state_.global_step, info_.fingerprint, report_);
  // The run's numbers are the hybrid's; each part's beside them.
  for (const auto& [name, value] : h.metrics) summary_.metrics[name] = value;
  summary_.eval_seconds += h.seconds;
}

TrainSummary run_training(const TrainConfig& c, comm::Communicator& comm, std::FILE* report,
                          const RunOptions& run) {
  Trainer trainer(c, comm, report, run);
  return trainer.run();
}

}  // namespace halorec::train

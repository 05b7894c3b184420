#include "train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "comm/exchange_plan.h"
#include "comm/row_exchange.h"
#include "core/check.h"
#include "core/digest.h"
#include "core/log.h"
#include "core/resources.h"
#include "core/staged_path.h"
#include "data/dataset.h"
#include "model/local_graph.h"
#include "model/model.h"
#include "partition/partition_job.h"
#include "partition/shard_file.h"
#include "train/adam.h"
#include "train/evaluator.h"
#include "train/sampler.h"

namespace fs = std::filesystem;

namespace halorec::train {

namespace {

at::Tensor i64(const std::vector<int64_t>& v) {
  return at::tensor(at::ArrayRef<int64_t>(v), at::kLong);
}

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

// Identical dense gradients on every rank: sum over ranks, then rank 0's
// result everywhere (an all-reduce alone may differ in the last bits).
void reduce_dense_grads(const std::vector<at::Tensor>& params, comm::Communicator& comm) {
  if (params.empty()) return;
  std::vector<at::Tensor> grads;
  for (const at::Tensor& p : params) {
    grads.push_back(p.grad().defined() ? p.grad().reshape({-1}) : at::zeros({p.numel()}, p.options()));
  }
  at::Tensor flat = at::cat(grads).to(comm.device());
  comm.all_reduce(flat, comm::ReduceOp::kSum);
  comm.broadcast(flat, 0);
  int64_t off = 0;
  for (const at::Tensor& p : params) {
    at::Tensor g = flat.slice(0, off, off + p.numel()).view(p.sizes()).to(p.device());
    if (p.grad().defined()) {
      p.mutable_grad().copy_(g);
    } else {
      p.mutable_grad() = g.clone();
    }
    off += p.numel();
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
      o.force = true;
      fs::create_directories(fs::path(dir).parent_path().empty() ? "." : fs::path(dir).parent_path());
      const partition::PartitionResult r = partition::run_partition(o);
      log::info("partition: halo {} rows, imbalance nodes {:.3f} edges {:.3f}",
                r.stats.halo_volume_total, r.stats.node_imbalance, r.stats.edge_imbalance);
    }
  }
  comm.barrier();
  return dir;
}

TrainSummary run_training(const TrainConfig& c, comm::Communicator& comm, std::FILE* report) {
  Stopwatch total;
  const int P = comm.size();
  const int64_t threads =
      c.threads > 0 ? c.threads
                    : std::max<int64_t>(1, std::thread::hardware_concurrency() / comm.local_size());
  at::set_num_threads(static_cast<int>(threads));
  const bool cuda = comm.device().is_cuda();
  const at::Device device = comm.device();

  if (comm.rank() == 0) {
    fs::create_directories(c.output_dir);
    write_text_atomically(c.output_dir + "/config.yaml", to_yaml(c));
  }
  const std::string parts = ensure_partition(c, comm);
  const data::DatasetInfo info = data::read_dataset_info(c.dataset);
  const partition::PartitionMeta meta = partition::read_meta(parts);
  partition::check_partition_matches(meta, parts, c.dataset, info.fingerprint);
  const partition::Shard shard = partition::read_shard(parts, comm.rank(), meta);
  const int64_t U = shard.num_users;
  log::info("shard: {} owned ({} halo), {} train interactions; {} threads, {}", shard.num_owned(),
            shard.num_halo(), shard.train.size(), threads, comm.backend());

  // Graph, plans and tables on the device.
  model::LocalGraph graph = model::make_local_graph(shard.num_owned() + shard.num_halo(),
                                                    shard.indptr, shard.col, shard.value, P == 1);
  if (cuda) {
    for (at::Tensor* t : {&graph.indptr, &graph.col, &graph.val, &graph.t_indptr, &graph.t_col,
                          &graph.t_val}) {
      if (t->defined()) *t = t->to(device);
    }
  }
  const comm::ExchangePlan halo = comm::make_exchange_plan(
      shard.send_index, shard.send_offsets, shard.recv_offsets, at::TensorOptions().device(device));
  const at::Tensor owned_ids = i64(shard.owned).to(device);
  const at::Tensor owner = at::tensor(at::ArrayRef<int32_t>(meta.owner), at::kInt).to(device);
  const auto options = at::TensorOptions().dtype(at::kFloat).device(device);

  model::ModelConfig mc;
  mc.type = c.model_type;
  mc.dim = c.dim;
  mc.layers = c.layers;
  mc.dropout = c.dropout;
  mc.seed = c.seed;
  model::ShardContext ctx{&graph, &halo, &comm, owned_ids};
  auto net = model::make_model(mc, ctx, options);
  at::Tensor e0 = model::initial_vectors(shard.owned, c.dim, c.seed).to(device).requires_grad_(true);
  const std::vector<at::Tensor> dense = net->dense_parameters();
  std::vector<at::Tensor> params = {e0};
  params.insert(params.end(), dense.begin(), dense.end());
  Adam adam(params, c.lr);

  const Sampler sampler(c.sampler, c.seed, c.batch_size, shard, meta.owner, comm);
  const Evaluator evaluator(shard, c.topk, c.eval_batch_users);
  const int64_t steps_per_epoch = sampler.steps_per_epoch();
  const bool progress = comm.rank() == 0 && report == stdout && isatty(STDOUT_FILENO);
  // The global loss of every step costs one small all-reduce per step.
  const bool log_steps = true;

  std::ofstream metrics_file, steps_file;
  if (comm.rank() == 0) {
    metrics_file.open(c.output_dir + "/metrics.jsonl", std::ios::trunc);
    if (!metrics_file) HR_THROW(IoError, "cannot write '{}/metrics.jsonl'", c.output_dir);
    steps_file.open(c.output_dir + "/steps.csv", std::ios::trunc);
    steps_file << "step,epoch,loss,ms\n";
    log::info("{} ranks, {} steps per epoch ({} triples, batch {})", P, steps_per_epoch,
              sampler.triples_per_epoch(), c.batch_size);
  }

  TrainSummary summary;
  double best = -1;
  int64_t since_best = 0;
  int64_t global_step = 0;
  bool stop = false;
  for (int64_t epoch = 1; epoch <= c.epochs && !stop; ++epoch) {
    Stopwatch epoch_watch;
    std::vector<double> step_ms;
    double loss_sum = 0;
    int64_t steps_run = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      if (c.max_steps > 0 && global_step >= c.max_steps) {
        stop = true;
        break;
      }
      Stopwatch step_watch;
      const Triples t = sampler.sample(epoch, s);
      const int64_t b = static_cast<int64_t>(t.user.size());
      const at::Tensor final_owned = net->forward(e0, global_step, true);
      at::Tensor batch_items = at::cat({i64(t.pos), i64(t.neg)}).add_(U).to(device);
      const comm::GatherPlan gather = comm::make_gather_plan(comm, batch_items, owner, owned_ids);
      const at::Tensor item_final = comm::remote_gather(final_owned, gather, comm);
      const at::Tensor item_e0 = comm::remote_gather(e0, gather, comm);
      const at::Tensor user_rows = at::searchsorted(owned_ids, i64(t.user).to(device));
      const at::Tensor eu = final_owned.index_select(0, user_rows);
      const at::Tensor ep = item_final.slice(0, 0, b), en = item_final.slice(0, b, 2 * b);
      const at::Tensor bpr = at::softplus((eu * en).sum(1) - (eu * ep).sum(1)).sum();
      const at::Tensor reg = (e0.index_select(0, user_rows).pow(2).sum() + item_e0.pow(2).sum()) / 2;
      const double norm = 1.0 / static_cast<double>(std::max<int64_t>(1, t.global_count));
      const at::Tensor loss = (bpr + c.weight_decay * reg) * norm;
      // Every exchange output takes part in backward on every rank (see row_exchange.h).
      const at::Tensor anchor = (final_owned.sum() + item_final.sum() + item_e0.sum()) * 0.0;
      (loss + anchor).backward();
      reduce_dense_grads(dense, comm);
      adam.step();
      adam.zero_grad();
      const double rank_loss = loss.item<double>();
      loss_sum += rank_loss;
      ++steps_run;
      ++global_step;
      step_ms.push_back(step_watch.seconds() * 1e3);
      if (log_steps) {
        at::Tensor l = at::full({1}, rank_loss, at::kDouble).to(device);
        comm.all_reduce(l, comm::ReduceOp::kSum);
        if (comm.rank() == 0) {
          steps_file << fmt::format("{},{},{:.9g},{:.3f}\n", global_step, epoch,
                                    l.cpu().item<double>(), step_ms.back());
        }
      }
      if (progress && (s % 10 == 0 || s + 1 == steps_per_epoch)) {
        const double rate = static_cast<double>(s + 1) / epoch_watch.seconds();
        fmt::print("\repoch {} step {}/{}  {:.1f} steps/s  ETA {:.0f} s   ", epoch, s + 1,
                   steps_per_epoch, rate, static_cast<double>(steps_per_epoch - s - 1) / rate);
        std::fflush(stdout);
      }
    }
    if (progress) fmt::print("\n");
    if (steps_run == 0) break;
    at::Tensor loss_total = at::full({1}, loss_sum, at::kDouble).to(device);
    comm.all_reduce(loss_total, comm::ReduceOp::kSum);
    const double epoch_loss = loss_total.cpu().item<double>() / static_cast<double>(steps_run);
    const double epoch_seconds = epoch_watch.seconds();

    nlohmann::json record = {{"epoch", epoch},
                             {"step", global_step},
                             {"loss", epoch_loss},
                             {"epoch_seconds", epoch_seconds},
                             {"step_ms_median", median(step_ms)}};
    const bool last = epoch == c.epochs || stop;
    if (c.eval_every > 0 && (epoch % c.eval_every == 0 || last)) {
      at::NoGradGuard no_grad;
      const at::Tensor final_owned = net->forward(e0.detach(), global_step, false);
      const EvalResult r = evaluator.evaluate(final_owned, comm);
      record["eval_seconds"] = r.seconds;
      for (const auto& [name, value] : r.metrics) record[name] = value;
      summary.metrics = r.metrics;
      const double watched = r.metrics.at(c.eval_metric);
      if (watched > best) {
        best = watched;
        since_best = 0;
      } else if (c.patience > 0 && ++since_best >= c.patience) {
        log::info("early stop: {} did not improve for {} evaluations", c.eval_metric, c.patience);
        stop = true;
      }
    }
    if (comm.rank() == 0) {
      metrics_file << record.dump() << "\n";
      metrics_file.flush();
      std::string line = fmt::format("epoch {:>3}  loss {:.5f}  {:.1f} s  step {:.1f} ms",
                                     epoch, epoch_loss, epoch_seconds, median(step_ms));
      for (const auto& [name, value] : summary.metrics) {
        if (record.contains(name)) line += fmt::format("  {} {:.4f}", name, value);
      }
      if (record.contains("eval_seconds")) {
        line += fmt::format("  (eval {:.1f} s)", record["eval_seconds"].get<double>());
      }
      fmt::print(report, "{}\n", line);
      std::fflush(report);
    }
    summary.epochs = epoch;
    summary.last_loss = epoch_loss;
  }
  summary.steps = global_step;
  summary.seconds = total.seconds();
  if (!dense.empty()) {
    Sha256 sha;
    for (const at::Tensor& p : dense) {
      const at::Tensor h = p.detach().cpu().contiguous();
      sha.update(h.data_ptr(), static_cast<size_t>(h.numel() * h.element_size()));
    }
    summary.dense_digest = sha.hex();
  }
  if (comm.rank() == 0) {
    nlohmann::json final_record = {{"final", true},
                                   {"epochs", summary.epochs},
                                   {"step", summary.steps},
                                   {"loss", summary.last_loss},
                                   {"seconds", summary.seconds},
                                   {"ranks", P}};
    for (const auto& [name, value] : summary.metrics) final_record[name] = value;
    metrics_file << final_record.dump() << "\n";
  }
  return summary;
}

}  // namespace halorec::train

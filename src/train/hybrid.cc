#include "train/hybrid.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <memory>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/log.h"
#include "core/resources.h"
#include "model/filter_fit.h"
#include "serve/model_file.h"
#include "train/evaluator.h"

namespace halorec::train {

model::FilterSettings hybrid_filter_settings(const TrainConfig& c) {
  model::FilterSettings s;
  s.kind = c.filter;
  s.alpha = c.filter_alpha < 0 ? model::default_filter_alpha(c.filter) : c.filter_alpha;
  s.order = c.filter_order;
  s.flatness = c.filter_flatness;
  s.beta = c.filter_beta;
  s.t_sharpen = c.filter_t_sharpen;
  return s;
}

namespace {

// The learned part: every rank's item vectors by item id [I, D], and the
// rank's user rows of `final_owned`.
struct Learned {
  at::Tensor items;        // [I, D]
  at::Tensor owned;        // [owned, D]
  const partition::Shard* shard = nullptr;

  // Scores [e - b, I] of the users ids[b..e).
  at::Tensor scores(const std::vector<int64_t>& ids, int64_t b, int64_t e) const {
    std::vector<int64_t> rows;
    for (int64_t k = b; k < e; ++k) {
      const auto& o = shard->owned;
      const int64_t u = ids[static_cast<size_t>(k)];
      const auto at_ = std::lower_bound(o.begin(), o.end(), u);
      HR_CHECK(at_ != o.end() && *at_ == u, "user {} is not owned by this rank", u);
      rows.push_back(at_ - o.begin());
    }
    return at::mm(owned.index_select(0, at::tensor(rows, at::kLong)), items.t());
  }
};

Learned gather_learned(const partition::Shard& shard, const at::Tensor& final_owned,
                       comm::Communicator& comm) {
  Learned l;
  l.shard = &shard;
  l.owned = final_owned.detach().to(at::kCPU, at::kFloat).contiguous();
  const int64_t U = shard.num_users, I = shard.num_items, D = l.owned.size(1);
  std::vector<int64_t> ids, rows;
  for (size_t k = 0; k < shard.owned.size(); ++k) {
    if (shard.owned[k] >= U) {
      ids.push_back(shard.owned[k] - U);
      rows.push_back(static_cast<int64_t>(k));
    }
  }
  const at::Tensor mine = l.owned.index_select(0, at::tensor(rows, at::kLong)).contiguous();
  const at::Tensor all_ids = comm.all_gather_v(at::tensor(ids, at::kLong).to(comm.device())).cpu();
  const at::Tensor all_rows = comm.all_gather_v(mine.to(comm.device())).cpu();
  HR_CHECK(all_ids.numel() == I, "the ranks own {} item rows of {}", all_ids.numel(), I);
  l.items = at::zeros({I, D}, at::kFloat);
  l.items.index_copy_(0, all_ids, all_rows.view({I, D}));
  return l;
}

// The rows of the shard's users from records of (user, item), any order.
std::unique_ptr<model::FilterRows> rows_from(const partition::Shard& shard,
                                            const std::vector<const data::Interactions*>& parts) {
  auto rows = std::make_unique<model::FilterRows>();
  rows->num_items = shard.num_items;
  for (int64_t g : shard.owned) {
    if (g < shard.num_users) rows->users.push_back(g);
  }
  std::vector<std::pair<int64_t, int64_t>> pairs;
  for (const data::Interactions* p : parts) {
    for (size_t k = 0; k < p->size(); ++k) pairs.emplace_back(p->user[k], p->item[k]);
  }
  std::sort(pairs.begin(), pairs.end());
  std::vector<int64_t> u(pairs.size()), i(pairs.size());
  for (size_t k = 0; k < pairs.size(); ++k) {
    u[k] = pairs[k].first;
    i[k] = pairs[k].second;
  }
  rows->build(u, i);
  return rows;
}

std::string mix_name(double mix) {
  return fmt::format("{:.2g}", mix);
}

}  // namespace

HybridResult fit_hybrid(const TrainConfig& c, const partition::Shard& shard,
                        const at::Tensor& final_owned, comm::Communicator& comm,
                        const std::string& path, int64_t step, const std::string& fingerprint,
                        std::FILE* report) {
  Stopwatch watch;
  at::NoGradGuard no_grad;
  const bool speak = comm.rank() == 0 && report != nullptr;
  HybridResult res;
  const model::FilterSettings settings = hybrid_filter_settings(c);
  model::BasisOptions basis;
  basis.rank = std::min(c.filter_rank > 0 ? c.filter_rank : model::default_filter_rank(c.filter),
                        shard.num_items);
  basis.seed = c.seed;
  const bool need_basis = settings.alpha > 0;
  const Learned learned = gather_learned(shard, final_owned, comm);
  const std::string metric = c.eval_metric;

  std::vector<double> grid;
  if (const auto given = filter_mix_value(c)) {
    grid = {*given};
  } else {
    for (int k = 0; k <= 10; ++k) grid.push_back(k / 10.0);
  }
  const bool carve = c.validation > 0;
  std::map<std::string, double> info;
  if (carve) {
    // Fitted on the records the learned part trained on; each mix ranks the
    // carve's records.
    const auto rows = rows_from(shard, {&shard.train});
    Stopwatch fit_watch;
    const model::FilterFit fit(*rows, comm, need_basis ? &basis : nullptr, &info);
    const model::GraphFilter g = fit.filter(settings);
    if (speak) {
      std::fprintf(report, "hybrid: %s fitted on train less the carve (basis %lld) in %.1f s\n",
                   c.filter.c_str(), static_cast<long long>(need_basis ? basis.rank : 0),
                   fit_watch.seconds());
      std::fflush(report);
    }
    Evaluator validator(
        shard, c.topk, c.eval_batch_users,
        eval_user_fraction(shard, c.filter_mix_users, comm, EvalSplit::kValidation),
        ItemPlacement::kReplicated, EvalSplit::kValidation);
    validator.report_progress("hybrid: scoring mixes on validation");
    const std::vector<int64_t> ids = validator.test_user_ids();
    at::Tensor f_block, l_block;
    const auto results = validator.evaluate_many(
        [&](int64_t b, int64_t e) {
          f_block = fit.scores(g, ids, b, e);
          l_block = learned.scores(ids, b, e);
        },
        [&](size_t k) { return model::mix_scores(f_block, l_block, grid[k]); }, grid.size(),
        comm);
    size_t best = 0;
    for (size_t k = 0; k < grid.size(); ++k) {
      const double v = results[k].metrics.at(metric);
      res.trials.emplace_back(grid[k], v);
      if (v > results[best].metrics.at(metric)) best = k;
    }
    res.mix = grid[best];
    for (const auto& [name, value] : results[best].metrics) {
      res.metrics[kValidationPrefix + name] = value;
    }
    if (speak) {
      std::string line;
      for (const auto& [mix, v] : res.trials) {
        line += fmt::format("{}{} {:.4f}", line.empty() ? "" : ", ", mix_name(mix), v);
      }
      std::fprintf(report, "hybrid: validation %s by mix (%lld users): %s; mix %s\n",
                   metric.c_str(), static_cast<long long>(results[best].users), line.c_str(),
                   mix_name(res.mix).c_str());
      std::fflush(report);
    }
  } else {
    res.mix = grid.front();
  }

  // The filter of all of train, for test and export.
  const auto rows = carve ? rows_from(shard, {&shard.train, &shard.validation})
                          : rows_from(shard, {&shard.train});
  Stopwatch fit_watch;
  const model::FilterFit fit(*rows, comm, need_basis ? &basis : nullptr, &info);
  const model::GraphFilter g = fit.filter(settings);
  const double refit_seconds = fit_watch.seconds();
  Evaluator tester(shard, c.topk, c.eval_batch_users,
                   eval_user_fraction(shard, c.eval_users, comm), ItemPlacement::kReplicated);
  tester.report_progress("hybrid: scoring test");
  const std::vector<int64_t> ids = tester.test_user_ids();
  at::Tensor f_block, l_block;
  const std::vector<double> mixes = {res.mix, 0.0, 1.0};
  const auto results = tester.evaluate_many(
      [&](int64_t b, int64_t e) {
        f_block = fit.scores(g, ids, b, e);
        l_block = learned.scores(ids, b, e);
      },
      [&](size_t k) { return model::mix_scores(f_block, l_block, mixes[k]); }, mixes.size(), comm);
  for (const auto& [name, value] : results[0].metrics) res.metrics[name] = value;
  for (const auto& [name, value] : results[1].metrics) res.metrics["filter_" + name] = value;
  for (const auto& [name, value] : results[2].metrics) res.metrics["learned_" + name] = value;
  res.metrics["filter_mix"] = res.mix;
  res.seconds = watch.seconds();
  if (speak) {
    std::fprintf(report,
                 "hybrid: %s refitted on all of train in %.1f s; test %s %.4f (filter alone "
                 "%.4f, learned alone %.4f) at mix %s; %.1f s in all\n",
                 c.filter.c_str(), refit_seconds, metric.c_str(), res.metrics.at(metric),
                 res.metrics.at("filter_" + metric), res.metrics.at("learned_" + metric),
                 mix_name(res.mix).c_str(), res.seconds);
    std::fflush(report);
  }
  if (comm.rank() == 0) {
    serve::FilterPart p;
    p.settings = settings;
    p.mix = res.mix;
    p.step = step;
    p.dataset_fingerprint = fingerprint;
    const at::Tensor counts = fit.counts().contiguous();
    p.item_counts.assign(counts.data_ptr<double>(), counts.data_ptr<double>() + counts.numel());
    if (need_basis) {
      const at::Tensor v = fit.basis().contiguous();
      p.rank = v.size(1);
      p.basis.assign(v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
    }
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [name, value] : res.metrics) j[name] = value;
    nlohmann::json trials = nlohmann::json::array();
    for (const auto& [mix, v] : res.trials) trials.push_back({{"mix", mix}, {"val_" + metric, v}});
    j["trials"] = trials;
    p.metrics_json = j.dump();
    serve::write_filter_part(p, path);
  }
  comm.barrier();
  return res;
}

}  // namespace halorec::train

#include "tune/tune.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/log.h"
#include "core/resources.h"
#include "core/staged_path.h"
#include "data/dataset.h"
#include "export/export.h"
#include "train/config.h"
#include "train/evaluator.h"
#include "train/trainer.h"

namespace halorec::tune {

namespace fs = std::filesystem;

std::vector<std::pair<std::string, std::vector<std::string>>> recipes() {
  // MF with cosine scores and a sampled softmax (the family behind every
  // HaloRec recipe so far), across width, temperature, rate and negatives,
  // and LightGCN under the same loss; constant rates, so that a trial
  // resumed to more epochs is the run it would have been.
  const std::vector<std::string> mf = {"model.type=mf", "model.layers=0"};
  auto with = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  return {
      {"mf64", with(mf, {"model.dim=64", "train.lr=0.01", "train.temperature=0.1"})},
      {"mf128", with(mf, {"model.dim=128", "train.lr=0.01", "train.temperature=0.1"})},
      {"mf256", with(mf, {"model.dim=256", "train.lr=0.01", "train.temperature=0.1"})},
      {"mf128-t0.2", with(mf, {"model.dim=128", "train.lr=0.01", "train.temperature=0.2"})},
      {"mf128-lr0.003", with(mf, {"model.dim=128", "train.lr=0.003", "train.temperature=0.1"})},
      {"mf128-inbatch", with(mf, {"model.dim=128", "train.lr=0.01", "train.temperature=0.1",
                                  "train.in_batch_negatives=true"})},
      {"lightgcn64", {"model.type=lightgcn", "model.layers=2", "model.dim=64", "train.lr=0.01",
                      "train.temperature=0.1", "train.fanouts=[10]"}},
  };
}

namespace {

// What every trial shares: the loss, scores, sampler and propagation.
const std::vector<std::string> kCommon = {
    "model.score=cosine", "train.loss=softmax", "train.negatives=256", "train.sampler=edge",
    "train.propagation=minibatch", "train.lr_schedule=constant", "train.weight_decay=1e-8",
    "train.batch_size=1024", "checkpoint.every=0", "checkpoint.keep=1"};

// The filters tried as hybrid partners, cheapest first, with their cost
// relative to gfcf's (basis width; bspm's and chebycf's extra products).
const std::vector<std::pair<std::string, double>> kFilters = {
    {"gfcf", 1.0}, {"chebycf", 2.4}, {"bspm", 2.2}};

// One decision for all ranks: rank 0's.
bool agreed(bool v, comm::Communicator& comm) {
  at::Tensor t = at::tensor({v ? 1.0 : 0.0}, at::kDouble).to(comm.device());
  comm.broadcast(t, 0);
  return t.cpu().item<double>() > 0.5;
}

class Tuner {
 public:
  Tuner(const TuneOptions& o, comm::Communicator& comm, std::FILE* report)
      : o_(o), comm_(comm), report_(report), speak_(comm.rank() == 0) {
    const size_t at = o.metric.find('@');
    HR_CHECK(at != std::string::npos, "metric {}", o.metric);
    k_ = o.metric.substr(at + 1);
    sink_ = std::fopen("/dev/null", "w");
  }
  ~Tuner() {
    if (sink_ != nullptr) std::fclose(sink_);
  }

  TuneReport run();

 private:
  const TuneOptions& o_;
  comm::Communicator& comm_;
  std::FILE* report_;
  const bool speak_;
  std::string k_;
  std::FILE* sink_ = nullptr;
  Stopwatch clock_;
  TuneReport r_;

  double left() const { return o_.budget_s - clock_.seconds(); }

  // Whether `cost` more seconds leave room for `reserve` (rank 0's clock).
  bool fits(double cost, double reserve) {
    return agreed(clock_.seconds() + cost + reserve <= o_.budget_s, comm_);
  }

  std::string dir_of(const std::string& name) const {
    return (fs::path(o_.out) / "trials" / name).string();
  }

  // A training run of `sets` to `epochs` in `dir` (resumed when it exists).
  Trial train(const std::string& name, const std::vector<std::string>& sets, int64_t epochs,
              bool carve, const std::string& dir, const std::string& stage,
              const std::vector<std::string>& extra = {});
  void say(const Trial& t);
};

Trial Tuner::train(const std::string& name, const std::vector<std::string>& sets, int64_t epochs,
                   bool carve, const std::string& dir, const std::string& stage,
                   const std::vector<std::string>& extra) {
  std::vector<std::string> ov = kCommon;
  ov.insert(ov.end(), sets.begin(), sets.end());
  ov.insert(ov.end(), extra.begin(), extra.end());
  ov.push_back("data.dataset=" + o_.dataset);
  ov.push_back(fmt::format("data.validation={}", carve ? o_.validation : 0.0));
  ov.push_back(fmt::format("data.validation_seed={}", o_.seed));
  ov.push_back(fmt::format("train.seed={}", o_.seed));
  ov.push_back(fmt::format("train.epochs={}", epochs));
  ov.push_back(fmt::format("train.threads={}", o_.threads));
  // One evaluation, at the last epoch.
  ov.push_back(fmt::format("eval.every={}", epochs));
  ov.push_back(fmt::format("eval.topk=[{}]", k_));
  ov.push_back("eval.metric=" + o_.metric);
  ov.push_back(fmt::format("eval.users={}", o_.eval_users));
  ov.push_back("output.dir=" + dir);
  std::error_code ec;
  if (fs::exists(fs::path(dir) / "checkpoints", ec)) ov.push_back("checkpoint.resume=latest");
  const train::TrainConfig c = train::load_config("", ov);
  Trial t;
  t.name = name;
  t.sets = sets;
  t.sets.insert(t.sets.end(), extra.begin(), extra.end());
  t.stage = stage;
  t.epochs = epochs;
  Stopwatch w;
  const log::Level before = log::level();
  if (before < log::Level::kError) log::set_level(log::Level::kError);
  train::TrainSummary s;
  try {
    s = train::run_training(c, comm_, sink_);
  } catch (...) {
    log::set_level(before);
    throw;
  }
  log::set_level(before);
  t.seconds = w.seconds();
  t.at_seconds = clock_.seconds();
  t.metrics = s.metrics;
  const std::string key = (carve ? std::string(train::kValidationPrefix) : std::string()) + o_.metric;
  const auto v = s.metrics.find(key);
  t.value = s.exit_code == 0 && v != s.metrics.end() ? v->second : -1;
  r_.trials.push_back(t);
  say(t);
  return t;
}

void Tuner::say(const Trial& t) {
  if (!speak_ || report_ == nullptr) return;
  std::string what = t.stage == "final" ? o_.metric + " (test)" : "val_" + o_.metric;
  std::string mix;
  const auto m = t.metrics.find("filter_mix");
  if (m != t.metrics.end()) mix = fmt::format("  mix {:.1f}", m->second);
  fmt::print(report_, "{:>7.1f} s  {:<8} {:<24} {:>4} epochs  {} {:.4f}{}  ({:.1f} s)\n",
             t.at_seconds, t.stage, t.name, t.epochs, what, t.value, mix, t.seconds);
  std::fflush(report_);
}

TuneReport Tuner::run() {
  r_.budget_s = o_.budget_s;
  const auto list = recipes();
  std::vector<size_t> alive(list.size());
  for (size_t k = 0; k < alive.size(); ++k) alive[k] = k;
  std::vector<double> value(list.size(), -1), per_epoch(list.size(), 0);
  std::vector<int64_t> done(list.size(), 0);
  // The final run: the winner on all of train (1 / (1 - carve) of the
  // records per epoch) and its filter, plus the export.
  double final_filter = 0;
  auto reserve = [&](size_t k, int64_t epochs) {
    const double pe = per_epoch[k] > 0 ? per_epoch[k]
                                       : *std::max_element(per_epoch.begin(), per_epoch.end());
    return 1.15 * (pe * static_cast<double>(epochs) / (1 - o_.validation) + final_filter) + 5;
  };
  auto estimate = [&](size_t k, int64_t epochs) {
    const double pe = per_epoch[k] > 0 ? per_epoch[k]
                                       : *std::max_element(per_epoch.begin(), per_epoch.end());
    return 1.15 * pe * static_cast<double>(epochs - done[k]) + 2;
  };

  // Successive halving: every recipe for 2 epochs, the best third for 3x
  // as many, ... while the budget allows (each rung's trials are resumed).
  int64_t epochs = 2;
  bool out_of_time = false;
  while (!out_of_time) {
    std::vector<size_t> ran;
    for (size_t k : alive) {
      const bool first = std::all_of(per_epoch.begin(), per_epoch.end(),
                                     [](double x) { return x == 0; });
      if (!first && !fits(estimate(k, epochs), reserve(k, epochs))) {
        out_of_time = true;
        break;
      }
      const int64_t before = done[k];
      const Trial t = train(list[k].first, list[k].second, epochs, true, dir_of(list[k].first),
                            "halving");
      per_epoch[k] = t.seconds / static_cast<double>(std::max<int64_t>(1, epochs - before));
      done[k] = epochs;
      value[k] = t.value;
      ran.push_back(k);
    }
    if (ran.empty()) break;
    std::sort(ran.begin(), ran.end(), [&](size_t a, size_t b) { return value[a] > value[b]; });
    alive.assign(ran.begin(), ran.begin() + static_cast<long>(std::max<size_t>(1, (ran.size() + 2) / 3)));
    if (alive.size() == 1 || out_of_time) break;
    epochs *= 3;
  }
  // The survivor: the best value of any trial at the highest rung it reached.
  size_t best = 0;
  for (size_t k = 0; k < list.size(); ++k) {
    if (done[k] > done[best] || (done[k] == done[best] && value[k] > value[best])) best = k;
  }
  HR_CHECK(done[best] > 0, "no trial ran");
  const std::string name = list[best].first;
  const std::string dir = dir_of(name);
  // More epochs while validation still rises by 0.5 %.
  int64_t best_epochs = done[best];
  while (true) {
    const int64_t next = done[best] * 2;
    if (!fits(estimate(best, next), reserve(best, next))) break;
    const Trial t = train(name, list[best].second, next, true, dir, "epochs");
    per_epoch[best] = t.seconds / static_cast<double>(next - done[best]);
    done[best] = next;
    const bool rose = t.value > value[best] * 1.005;
    if (t.value > value[best]) {
      value[best] = t.value;
      best_epochs = next;
    }
    if (!rose) break;
  }
  // The filters as partners of the trained survivor (its finished run,
  // resumed: only the filter part is fitted).
  Trial chosen;
  chosen.name = name;
  chosen.sets = list[best].second;
  chosen.epochs = done[best];
  chosen.value = value[best];
  std::string filter;
  double mix = 1, gfcf_seconds = 0;
  for (const auto& [f, cost] : kFilters) {
    const double guess = gfcf_seconds > 0 ? gfcf_seconds * cost : 0.1 * o_.budget_s;
    if (!fits(guess, reserve(best, done[best]) + (gfcf_seconds > 0 ? 0.5 * guess : 0))) continue;
    const Trial t = train(name + "+" + f, list[best].second, done[best], true, dir, "filter",
                          {"model.filter=" + f});
    if (f == "gfcf") gfcf_seconds = t.seconds;
    if (t.value > chosen.value) {
      chosen.value = t.value;
      chosen.name = name + "+" + f;
      filter = f;
      mix = t.metrics.count("filter_mix") ? t.metrics.at("filter_mix") : 1;
      // The final fits it once (no carve): about half of this trial.
      final_filter = 0.5 * t.seconds;
    }
  }
  chosen.sets = list[best].second;
  if (!filter.empty()) {
    chosen.sets.push_back("model.filter=" + filter);
    chosen.sets.push_back(fmt::format("model.filter_mix={}", mix));
  }
  chosen.stage = "chosen";
  r_.chosen = chosen;
  if (speak_ && report_ != nullptr) {
    fmt::print(report_, "chosen: {} at {} epochs (val_{} {:.4f}; {} epochs were best alone)\n",
               chosen.name, chosen.epochs, o_.metric, chosen.value, best_epochs);
    std::fflush(report_);
  }
  // On all of train, then exported.
  const std::string final_dir = (fs::path(o_.out) / "final").string();
  r_.final = train(chosen.name, chosen.sets, chosen.epochs, false, final_dir, "final");
  r_.model = (fs::path(o_.out) / "model.h5").string();
  if (comm_.rank() == 0) {
    exporting::ExportOptions e;
    e.checkpoint = (fs::path(final_dir) / "checkpoints").string();
    e.out = r_.model;
    exporting::run_export(e);
  }
  comm_.barrier();
  r_.seconds = clock_.seconds();
  return r_;
}

nlohmann::json trial_json(const Trial& t) {
  nlohmann::json j = {{"name", t.name},       {"stage", t.stage},   {"sets", t.sets},
                      {"epochs", t.epochs},   {"seconds", t.seconds}, {"at_seconds", t.at_seconds},
                      {"value", t.value}};
  nlohmann::json m = nlohmann::json::object();
  for (const auto& [k, v] : t.metrics) {
    // Trials are judged on validation alone: their test numbers stay out.
    if (t.stage == "final" || k.rfind(train::kValidationPrefix, 0) == 0 || k == "filter_mix") {
      m[k] = v;
    }
  }
  j["metrics"] = m;
  return j;
}

// Validation metric against the tune's clock, a dot per trial, by stage.
std::string trials_svg(const TuneReport& r, const std::string& metric) {
  const double W = 720, H = 420, L = 60, B = 50, T = 30, Rm = 160;
  double vmin = 1e9, vmax = -1e9;
  for (const Trial& t : r.trials) {
    if (t.stage == "final" || t.value < 0) continue;
    vmin = std::min(vmin, t.value);
    vmax = std::max(vmax, t.value);
  }
  if (vmin > vmax) vmin = 0, vmax = 1;
  if (vmax - vmin < 1e-6) vmin -= 0.01, vmax += 0.01;
  const double tmax = std::max(r.budget_s, r.seconds);
  auto x = [&](double s) { return L + (W - L - Rm) * s / tmax; };
  auto y = [&](double v) { return H - B - (H - B - T) * (v - vmin) / (vmax - vmin); };
  const std::map<std::string, std::string> colour = {
      {"halving", "#1f77b4"}, {"epochs", "#2ca02c"}, {"filter", "#d62728"}};
  std::string s = fmt::format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{0}' height='{1}' font-family='sans-serif' "
      "font-size='11'>\n<rect width='{0}' height='{1}' fill='white'/>\n",
      W, H);
  s += fmt::format("<line x1='{0}' y1='{1}' x2='{2}' y2='{1}' stroke='black'/>\n", L, H - B,
                   W - Rm);
  s += fmt::format("<line x1='{0}' y1='{1}' x2='{0}' y2='{2}' stroke='black'/>\n", L, H - B, T);
  s += fmt::format("<line x1='{0}' y1='{1}' x2='{0}' y2='{2}' stroke='grey' "
                   "stroke-dasharray='4'/>\n<text x='{0}' y='{3}' text-anchor='middle'>budget"
                   "</text>\n",
                   x(r.budget_s), H - B, T, T - 8);
  for (int k = 0; k <= 4; ++k) {
    const double v = vmin + (vmax - vmin) * k / 4, sec = tmax * k / 4;
    s += fmt::format("<text x='{}' y='{}' text-anchor='end'>{:.4f}</text>\n", L - 4, y(v) + 4, v);
    s += fmt::format("<text x='{}' y='{}' text-anchor='middle'>{:.0f}</text>\n", x(sec),
                     H - B + 16, sec);
  }
  s += fmt::format("<text x='{}' y='{}' text-anchor='middle'>seconds since the tune began"
                   "</text>\n", (L + W - Rm) / 2, H - 12);
  s += fmt::format("<text x='14' y='{}' transform='rotate(-90 14 {})' text-anchor='middle'>"
                   "validation {}</text>\n", (H - B + T) / 2, (H - B + T) / 2, metric);
  for (const Trial& t : r.trials) {
    if (t.stage == "final" || t.value < 0) continue;
    const auto c = colour.count(t.stage) ? colour.at(t.stage) : "black";
    s += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='4' fill='{}'><title>{} {} epochs: "
                     "{:.4f}</title></circle>\n",
                     x(t.at_seconds), y(t.value), c, t.name, t.epochs, t.value);
  }
  double ly = T + 10;
  for (const auto& [stage, c] : colour) {
    s += fmt::format("<circle cx='{}' cy='{}' r='4' fill='{}'/><text x='{}' y='{}'>{}</text>\n",
                     W - Rm + 20, ly, c, W - Rm + 30, ly + 4, stage);
    ly += 18;
  }
  s += fmt::format("<text x='{}' y='{}'>chosen: {}</text>\n", W - Rm + 14, ly + 10, r.chosen.name);
  s += "</svg>\n";
  return s;
}

void write_text(const std::string& path, const std::string& text) {
  StagedPath staged(path);
  {
    std::ofstream f(staged.temp());
    f << text;
    if (!f.good()) HR_THROW(IoError, "could not write '{}'", staged.temp());
  }
  staged.commit();
}

}  // namespace

TuneReport run_tune(const TuneOptions& o, comm::Communicator& comm, std::FILE* report) {
  if (!(o.budget_s >= 10)) {
    HR_THROW(UsageError, "--budget must be at least 10 s, got {}", o.budget_s);
  }
  if (!(o.validation > 0 && o.validation <= 0.5)) {
    HR_THROW(UsageError, "--validation must be in (0, 0.5], got {}", o.validation);
  }
  if (o.metric.rfind("recall@", 0) != 0 && o.metric.rfind("ndcg@", 0) != 0) {
    HR_THROW(UsageError, "--metric must be recall@K or ndcg@K, got '{}'", o.metric);
  }
  data::read_dataset_info(o.dataset);  // a missing or foreign file fails before any work
  std::error_code ec;
  if (fs::exists(o.out, ec) && !fs::is_empty(o.out, ec)) {
    const bool ours = fs::exists(fs::path(o.out) / "trials", ec);
    if (!o.force || !ours) {
      HR_THROW(UsageError, "--out '{}' is not empty{}", o.out,
               ours ? ": an earlier tune's; --force replaces it" : " and is no tune's folder");
    }
  }
  comm.barrier();
  if (comm.rank() == 0 && o.force) fs::remove_all(o.out, ec);
  comm.barrier();
  if (comm.rank() == 0) fs::create_directories(o.out);
  comm.barrier();
  Tuner tuner(o, comm, report);
  TuneReport r = tuner.run();
  if (comm.rank() == 0) {
    nlohmann::json j = {{"dataset", o.dataset},   {"budget_seconds", o.budget_s},
                        {"seconds", r.seconds},   {"ranks", comm.size()},
                        {"validation", o.validation}, {"metric", o.metric},
                        {"model", r.model}};
    nlohmann::json trials = nlohmann::json::array();
    for (const Trial& t : r.trials) trials.push_back(trial_json(t));
    j["trials"] = trials;
    j["chosen"] = {{"name", r.chosen.name},
                   {"sets", r.chosen.sets},
                   {"epochs", r.chosen.epochs},
                   {"value", r.chosen.value}};
    j["final"] = trial_json(r.final);
    write_text((fs::path(o.out) / "tune.json").string(), j.dump(2) + "\n");
    write_text((fs::path(o.out) / "trials.svg").string(), trials_svg(r, o.metric));
  }
  return r;
}

}  // namespace halorec::tune

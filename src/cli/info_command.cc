#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/check.h"
#include "data/dataset.h"
#include "serve/model_file.h"

namespace halorec::cli {

namespace {

struct DegreeStats {
  int64_t min = 0, median = 0, max = 0;
  double mean = 0;
};

DegreeStats degree_stats(const std::vector<int64_t>& ids, int64_t n) {
  DegreeStats s;
  if (n == 0) return s;
  std::vector<int64_t> deg(static_cast<size_t>(n), 0);
  for (int64_t id : ids) ++deg[static_cast<size_t>(id)];
  s.mean = static_cast<double>(ids.size()) / static_cast<double>(n);
  std::nth_element(deg.begin(), deg.begin() + n / 2, deg.end());
  s.median = deg[static_cast<size_t>(n / 2)];
  const auto [lo, hi] = std::minmax_element(deg.begin(), deg.end());
  s.min = *lo;
  s.max = *hi;
  return s;
}

class InfoCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand("info", "Summarize a dataset.h5 or a model.h5");
    auto* dataset = sub->add_option("--dataset", path_, "Dataset file (from halorec prepare)");
    auto* model = sub->add_option("--model", model_, "Model file (from halorec export or baseline)");
    dataset->excludes(model);
    sub->add_flag("--json", json_, "Print the summary as one JSON object on stdout");
    return sub;
  }

  int run() override {
    if (!model_.empty()) return run_model();
    if (path_.empty()) HR_THROW(UsageError, "give --dataset DATASET or --model MODEL");
    const data::Dataset d = data::read_dataset(path_);
    const DegreeStats ud = degree_stats(d.train.user, d.num_users());
    const DegreeStats id = degree_stats(d.train.item, d.num_items());
    const double density = d.num_users() * d.num_items() == 0
                               ? 0.0
                               : static_cast<double>(d.train.size() + d.test.size()) /
                                     (static_cast<double>(d.num_users()) * d.num_items());
    auto deg_json = [](const DegreeStats& s) {
      return nlohmann::json{{"min", s.min}, {"median", s.median}, {"mean", s.mean}, {"max", s.max}};
    };
    nlohmann::json j = {{"dataset", path_},
                        {"users", d.num_users()},
                        {"items", d.num_items()},
                        {"train", d.train.size()},
                        {"test", d.test.size()},
                        {"density", density},
                        {"has_time", d.train.has_time},
                        {"user_train_degree", deg_json(ud)},
                        {"item_train_degree", deg_json(id)},
                        {"planted_communities", !d.user_community.empty()},
                        {"split", d.split},
                        {"source", d.source},
                        {"fingerprint", d.fingerprint()}};
    const std::string text = fmt::format(
        "{}\n"
        "  users {}  items {}  train {}  test {}  density {:.6f}\n"
        "  user train degree: min {} median {} mean {:.1f} max {}\n"
        "  item train degree: min {} median {} mean {:.1f} max {}\n"
        "  split {}  source: {}\n"
        "  fingerprint {}",
        path_, d.num_users(), d.num_items(), d.train.size(), d.test.size(), density, ud.min,
        ud.median, ud.mean, ud.max, id.min, id.median, id.mean, id.max, d.split, d.source,
        d.fingerprint());
    print_report(json_, j, text);
    return 0;
  }

  // A model.h5: what it holds and where it came from.
  int run_model() {
    const serve::ModelFile m = serve::read_model_file(model_);
    std::string kind = m.model_type;
    if (m.is_hybrid()) {
      kind = fmt::format("{} + {} (hybrid, mix {})", m.model_type, m.filter.kind, m.filter_mix);
    } else if (m.is_filter()) {
      kind = fmt::format("{} (graph filter)", m.filter.kind);
    }
    const nlohmann::json metrics = nlohmann::json::parse(m.metrics_json, nullptr, false);
    nlohmann::json j = {{"model", model_},
                        {"kind", kind},
                        {"model_type", m.model_type},
                        {"score", m.score},
                        {"dim", m.dim},
                        {"layers", m.layers},
                        {"dtype", m.dtype},
                        {"users", m.user_ids.size()},
                        {"items", m.item_ids.size()},
                        {"cold_users", m.cold_users},
                        {"cold_items", m.cold_items},
                        {"step", m.step},
                        {"checkpoint", m.checkpoint},
                        {"dataset", m.dataset_path},
                        {"dataset_fingerprint", m.dataset_fingerprint},
                        {"user_ids", m.user_id_scheme},
                        {"interests", !m.interests.user_offsets.empty()},
                        {"fold_in", m.fold_layers > 0},
                        {"index", m.index_kind},
                        {"metrics", metrics.is_object() ? metrics : nlohmann::json::object()}};
    std::string text = fmt::format(
        "{}\n"
        "  {}  score {}  dim {}  layers {}  {}\n"
        "  users {}  items {}{}\n"
        "  step {}  checkpoint {}\n"
        "  dataset {} (fingerprint {})\n",
        model_, kind, m.score, m.dim, m.layers, m.dtype, m.user_ids.size(), m.item_ids.size(),
        m.cold_users + m.cold_items > 0
            ? fmt::format("  (cold-start: {} users, {} items)", m.cold_users, m.cold_items)
            : "",
        m.step, m.checkpoint.empty() ? "-" : m.checkpoint,
        m.dataset_path.empty() ? "(not recorded)" : m.dataset_path,
        m.dataset_fingerprint.substr(0, 16));
    std::string extras;
    if (m.user_id_scheme != "original") extras += " pseudonymized user ids;";
    if (!m.interests.user_offsets.empty()) extras += " interests;";
    if (m.fold_layers > 0) extras += " fold-in;";
    if (!m.index_kind.empty()) extras += " ANN index " + m.index_kind + " (" + m.index_file + ");";
    if (!extras.empty()) text += "  with" + extras.substr(0, extras.size() - 1) + "\n";
    if (metrics.is_object() && !metrics.empty()) {
      text += "  metrics:";
      for (const auto& [name, value] : metrics.items()) {
        if (value.is_number()) text += fmt::format(" {} {:.4f}", name, value.get<double>());
      }
      text += "\n";
    }
    text.pop_back();
    print_report(json_, j, text);
    return 0;
  }

 private:
  std::string model_;
  std::string path_;
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_info_command() { return std::make_unique<InfoCommand>(); }

}  // namespace halorec::cli

// halorec evaluate: ranking metrics of a model.h5 on a dataset's test split
// (the metrics module training's evaluator uses; no MPI, no trainer).

#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/serve_options.h"
#include "core/check.h"
#include "core/log.h"
#include "core/resources.h"
#include "data/dataset.h"
#include "serve/evaluate.h"
#include "serve/strategies.h"

namespace halorec::cli {

namespace {

class EvaluateCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand(
        "evaluate", "Recall, NDCG, Precision and HitRate @K of a model.h5 on a dataset's test set");
    sub->add_option("--model", model_, "Model file from halorec export")->required();
    sub->add_option("--dataset", dataset_, "The model's dataset.h5")->required();
    sub->add_option("--k", k_, "Cut-offs (repeatable: --k 10 --k 20)");
    sub->add_option("--strategy", strategy_,
                    "Also score the lists of this strategy (single, multi, mmr): recall, ndcg, "
                    "precision, hitrate, coverage, intra-list diversity (ild) and novelty at "
                    "each k; multi and mmr also beside single's, with the difference")
        ->check(CLI::IsMember({"single", "multi", "mmr"}));
    add_strategy_options(sub, &o_);
    sub->add_option("--key", key_file_,
                    "KEY_FILE of a pseudonymized export (its rows are joined with the dataset "
                    "through the key)");
    add_allow_readable_key(sub, &allow_readable_key_);
    add_threads_option(sub, &threads_);
    sub->add_flag("--json", json_, "Print one JSON object on stdout");
    return sub;
  }
  int run() override {
    for (int64_t k : k_) {
      if (k < 1 || k > 10000) HR_THROW(UsageError, "--k must be in 1..10000, got {}", k);
    }
    const std::string key = key_of(key_file_, allow_readable_key_);
    const int64_t threads = use_threads(threads_);
    serve::ModelFile m = serve::read_model_file(model_);
    const data::Dataset d = data::read_dataset(dataset_);
    serve::align_to_dataset(m, d, key);
    std::map<std::string, double> metrics;
    std::string comparison;  // multi or mmr against single
    Stopwatch watch;
    if (strategy_.empty()) {
      metrics = serve::evaluate_model(m, d, k_);
    } else {
      o_.strategy = serve::parse_strategy(strategy_);
      const auto mine = serve::evaluate_strategy(m, d, k_, o_);
      for (const auto& [name, value] : mine) metrics[strategy_ + "/" + name] = value;
      if (o_.strategy != serve::Strategy::kSingle) {
        // What the strategy costs or gains against plain top-K, on the same users.
        serve::RecommendOptions single = o_;
        single.strategy = serve::Strategy::kSingle;
        const auto base = serve::evaluate_strategy(m, d, k_, single);
        for (const auto& [name, value] : base) metrics["single/" + name] = value;
        std::string line;
        for (const auto& [name, value] : mine) {
          const double b = base.at(name);
          line += fmt::format("{}{} {:+.4f}{}", line.empty() ? "" : ", ", name, value - b,
                              b != 0 ? fmt::format(" ({:+.1f} %)", 100.0 * (value - b) / b) : "");
        }
        comparison = fmt::format("{} against single: {}", strategy_, line);
      }
    }
    if (!d.cold_item_ids.empty()) {
      // prepare --cold-items: the metrics above are the warm items'; the
      // cold ones are ranked apart.
      const auto cold = serve::evaluate_cold(m, d, k_);
      if (cold.empty()) {
        log::warn("{} holds {} cold items (prepare --cold-items) and {} has a vector for none "
                  "of them: train with data.item_features rows for them (docs/features.md) to "
                  "rank them", dataset_, d.cold_item_ids.size(), model_);
      } else {
        for (const auto& [name, value] : cold) metrics[name] = value;
        const std::string at = "@" + std::to_string(k_.front());
        const double mine = cold.at("cold/recall" + at);
        const double pop = cold.at("cold/popularity_recall" + at);
        const double rnd = cold.at("cold/random_recall" + at);
        comparison += fmt::format(
            "{}cold items: recall{} {:.4f} over {} users, {:.2f}x popularity among cold items "
            "({:.4f}), {:.1f}x random ({:.4f}); the other metrics are the warm items'",
            comparison.empty() ? "" : "\n", at, mine, static_cast<int64_t>(cold.at("cold/users")),
            pop > 0 ? mine / pop : 0.0, pop, rnd > 0 ? mine / rnd : 0.0, rnd);
        if (cold.at("cold/items_without_vector") > 0) {
          log::warn("{} of the {} cold items have no vector in {} and count as misses",
                    static_cast<int64_t>(cold.at("cold/items_without_vector")),
                    d.cold_item_ids.size(), model_);
        }
      }
    }
    log::info("evaluated {} in {:.2f} s on {} threads", model_, watch.seconds(), threads);
    nlohmann::json j = nlohmann::json::object();
    std::string text;
    for (const auto& [name, value] : metrics) {
      j[name] = value;
      text += fmt::format("{:<24}{:.5f}\n", name, value);
    }
    if (!comparison.empty()) text += comparison + "\n";
    print_report(json_, j, text.empty() ? text : text.substr(0, text.size() - 1));
    return 0;
  }

 private:
  std::string model_, dataset_, strategy_, key_file_;
  std::vector<int64_t> k_ = {20};
  serve::RecommendOptions o_;
  bool allow_readable_key_ = false;
  int64_t threads_ = 0;
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_evaluate_command() { return std::make_unique<EvaluateCommand>(); }

}  // namespace halorec::cli

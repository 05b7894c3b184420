// export, recommend, evaluate: from a checkpoint to serving, and back to metrics.

#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "comm/mpi_runtime.h"
#include "core/check.h"
#include "data/line_reader.h"
#include "serve/export.h"
#include "serve/recommend.h"

namespace halorec::cli {

namespace {

class ExportCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand(
        "export", "Write the final user and item vectors of a checkpoint to model.h5 for serving");
    sub->add_option("--checkpoint", o_.checkpoint,
                    "A checkpoint, or a folder whose newest committed checkpoint is used")
        ->required();
    sub->add_option("--out", o_.out, "Output model file (written atomically)")->required();
    sub->add_option("--dtype", o_.dtype, "Vector storage: fp32 or fp16")
        ->check(CLI::IsMember({"fp32", "fp16"}));
    sub->add_option("--dataset", o_.dataset,
                    "Dataset (default: data.dataset of the checkpoint's config)");
    sub->add_flag("--json", json_, "Print the report as one JSON object on stdout");
    return sub;
  }
  int run() override {
    comm::MpiRuntime mpi(nullptr, nullptr);
    const serve::ExportReport r = serve::run_export(o_);
    const nlohmann::json j = {{"checkpoint", r.checkpoint}, {"out", r.out},   {"users", r.users},
                              {"items", r.items},           {"dim", r.dim},   {"bytes", r.bytes},
                              {"dtype", o_.dtype},          {"seconds", r.seconds}};
    print_report(json_, j,
                 fmt::format("wrote {}: {} users, {} items, dim {}, {} ({:.1f} MiB) from {} in "
                             "{:.2f} s",
                             r.out, r.users, r.items, r.dim, o_.dtype,
                             static_cast<double>(r.bytes) / (1 << 20), r.checkpoint, r.seconds));
    return 0;
  }

 private:
  serve::ExportOptions o_;
  bool json_ = false;
};

class RecommendCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand("recommend", "Top-K items for users of a model.h5");
    sub->add_option("--model", model_, "Model file from halorec export")->required();
    auto* user = sub->add_option("--user", user_, "An original user id");
    auto* file = sub->add_option("--users-file", users_file_, "A file with one user id per line");
    user->excludes(file);
    sub->add_option("--k", k_, "Items per user");
    sub->add_option("--exclude-seen", dataset_,
                    "The model's dataset.h5: leave out each user's train items");
    sub->add_flag("--json", json_, "Print one JSON object on stdout");
    return sub;
  }
  int run() override {
    if (user_.empty() && users_file_.empty()) HR_THROW(UsageError, "give --user or --users-file");
    std::vector<std::string> users;
    if (!user_.empty()) {
      users.push_back(user_);
    } else {
      data::LineReader reader(users_file_);
      std::string_view line;
      while (reader.next(&line)) {
        if (!line.empty()) users.emplace_back(line);
      }
    }
    const serve::ModelFile m = serve::read_model_file(model_);
    data::Dataset seen;
    if (!dataset_.empty()) seen = data::read_dataset(dataset_);
    const auto recs = serve::recommend(m, users, k_, dataset_.empty() ? nullptr : &seen);
    if (json_) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& r : recs) {
        nlohmann::json items = nlohmann::json::array();
        for (const auto& [item, score] : r.items) items.push_back({{"item", item}, {"score", score}});
        arr.push_back({{"user", r.user}, {"items", items}});
      }
      fmt::print("{}\n", nlohmann::json{{"k", k_}, {"recommendations", arr}}.dump(2));
      return 0;
    }
    std::string out = "user\trank\titem\tscore\n";
    for (const auto& r : recs) {
      for (size_t j = 0; j < r.items.size(); ++j) {
        out += fmt::format("{}\t{}\t{}\t{:.6g}\n", r.user, j + 1, r.items[j].first, r.items[j].second);
      }
    }
    fmt::print("{}", out);
    return 0;
  }

 private:
  std::string model_, user_, users_file_, dataset_;
  int64_t k_ = 20;
  bool json_ = false;
};

class EvaluateCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand(
        "evaluate", "Recall, NDCG, Precision and HitRate @K of a model.h5 on a dataset's test set");
    sub->add_option("--model", model_, "Model file from halorec export")->required();
    sub->add_option("--dataset", dataset_, "The model's dataset.h5")->required();
    sub->add_option("--k", k_, "Cut-offs (repeatable: --k 10 --k 20)");
    sub->add_flag("--json", json_, "Print one JSON object on stdout");
    return sub;
  }
  int run() override {
    comm::MpiRuntime mpi(nullptr, nullptr);
    const serve::ModelFile m = serve::read_model_file(model_);
    const data::Dataset d = data::read_dataset(dataset_);
    const auto metrics = serve::evaluate_model(m, d, k_);
    nlohmann::json j = nlohmann::json::object();
    std::string text;
    for (const auto& [name, value] : metrics) {
      j[name] = value;
      text += fmt::format("{:<14}{:.5f}\n", name, value);
    }
    print_report(json_, j, text.empty() ? text : text.substr(0, text.size() - 1));
    return 0;
  }

 private:
  std::string model_, dataset_;
  std::vector<int64_t> k_ = {20};
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_export_command() { return std::make_unique<ExportCommand>(); }
std::unique_ptr<Command> make_recommend_command() { return std::make_unique<RecommendCommand>(); }
std::unique_ptr<Command> make_evaluate_command() { return std::make_unique<EvaluateCommand>(); }

}  // namespace halorec::cli

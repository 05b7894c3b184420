#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "baseline/baseline.h"
#include "cli/command.h"
#include "comm/communicator_factory.h"
#include "comm/mpi_runtime.h"
#include "core/check.h"

namespace halorec::cli {

namespace {

class BaselineCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand("baseline",
                                       "Training-free baselines (popularity, itemknn, ease; graph "
                                       "filters gfcf, bspm, chebycf) scored by training's "
                                       "evaluator; run under mpirun for several ranks");
    sub->add_option("--method", o_.method, "popularity, itemknn, ease, gfcf, bspm or chebycf")
        ->required();
    sub->add_option("--dataset", o_.dataset, "dataset.h5 from halorec prepare")->required();
    sub->add_option("--parts", o_.parts,
                    "A partition of the dataset for this rank count: each rank takes its "
                    "owned users (default: contiguous user ranges)");
    sub->add_option("--k", o_.topk, "Cut-offs (repeatable: --k 10 --k 20)");
    sub->add_option("--batch-users", o_.batch_users, "Users scored per block");
    sub->add_option("--eval-users", o_.eval_users,
                    "Evaluate about this many sampled test users, the same ones as train's "
                    "eval.users (0: all)")
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--threads", o_.threads, "Threads per rank (0: cores / ranks on the node)");
    sub->add_option("--neighbors", o_.neighbors, "itemknn: neighbours kept per item");
    sub->add_option("--shrink", o_.shrink, "itemknn: shrink term added to the cosine's norm");
    sub->add_option("--lambda", o_.lambda, "ease: L2 weight");
    sub->add_option("--max-memory", o_.max_memory_gib,
                    "GiB a rank may take (ease's dense item x item system; the filters' graph, "
                    "basis and scoring blocks)");
    rank_ = sub->add_option("--rank", rank_value_,
                            "gfcf, bspm, chebycf: singular vectors of the ideal low-pass term "
                            "(default 256, 448, 512)");
    alpha_ = sub->add_option("--alpha", alpha_value_,
                             "gfcf, bspm, chebycf: weight of the ideal low-pass term (default "
                             "0.3, 0.2, 0.2; 0: none)");
    sub->add_option("--oversample", o_.oversample,
                    "gfcf, bspm, chebycf: extra vectors in the subspace iteration");
    sub->add_option("--power-iters", o_.power_iters, "gfcf, bspm, chebycf: subspace iterations");
    sub->add_option("--seed", o_.seed, "gfcf, bspm, chebycf: seed of the starting subspace");
    sub->add_option("--t-blur", o_.t_blur, "bspm: length of the blurring process");
    sub->add_option("--blur-steps", o_.blur_steps, "bspm: steps of the blurring process");
    sub->add_option("--blur-solver", o_.blur_solver, "bspm: euler or rk4 for blurring");
    sub->add_option("--t-sharpen", o_.t_sharpen, "bspm: length of the sharpening process");
    sub->add_option("--sharpen-steps", o_.sharpen_steps, "bspm: steps of the sharpening process");
    sub->add_option("--sharpen-solver", o_.sharpen_solver, "bspm: euler or rk4 for sharpening");
    sub->add_option("--order", o_.order, "chebycf: order of the Chebyshev interpolation");
    sub->add_option("--flatness", o_.flatness, "chebycf: flatness of the low-pass plateau");
    sub->add_option("--beta", o_.beta, "chebycf: power of the degree normalization");
    sub->add_option("--select-on-validation", o_.select_validation,
                    "gfcf, bspm, chebycf: choose the settings on a validation carve of this "
                    "share of each user's train records (0: the settings as given), then fit "
                    "on all of train; the report gives the choice's test numbers beside the "
                    "given settings'");
    sub->add_option("--validation-seed", o_.validation_seed, "Seed of the validation carve");
    sub->add_option("--select-users", o_.select_users,
                    "Validation users ranked per setting tried, sampled (0: all)");
    sub->add_option("--out", o_.out,
                    "Write model.h5 for recommend/evaluate: popularity, or gfcf's low-pass term "
                    "(itemknn and ease have no vectors)");
    sub->add_option("--timeout", timeout_s_,
                    "Seconds a rank waits for the others in a collective (0: forever)");
    sub->add_flag("--json", json_, "Print one JSON object on stdout (rank 0)");
    return sub;
  }

  int run() override {
    if (rank_->count() > 0) o_.rank = rank_value_;
    if (alpha_->count() > 0) o_.alpha = alpha_value_;
    baseline::check_options(o_);
    if (!(timeout_s_ >= 0)) HR_THROW(UsageError, "--timeout must be >= 0, got {}", timeout_s_);
    comm::MpiRuntime mpi(nullptr, nullptr);
    return comm::run_or_abort_job([&] {
      auto comm = comm::make_communicator("mpi", false, timeout_s_);
      const baseline::Result r = baseline::run_baseline(o_, *comm);
      if (comm->rank() != 0) return 0;
      nlohmann::json j = {{"method", o_.method},
                          {"dataset", o_.dataset},
                          {"ranks", comm->size()},
                          {"users", r.users},
                          {"test_users", r.eval.users},
                          {"fit_seconds", r.fit_seconds},
                          {"eval_seconds", r.eval.seconds},
                          {"seconds", r.seconds},
                          {"peak_rss_bytes", r.peak_rss_bytes}};
      std::string text = fmt::format("{} on {}: {} test users, {} ranks\n", o_.method, o_.dataset,
                                     r.eval.users, comm->size());
      for (const auto& [name, value] : r.eval.metrics) {
        j[name] = value;
        text += fmt::format("{:<24}{:.5f}\n", name, value);
      }
      for (const auto& [name, value] : r.info) j[name] = value;
      if (!r.trials.empty()) {
        nlohmann::json trials = nlohmann::json::array();
        text += fmt::format(
            "settings chosen on a validation carve ({} of train, first --k's "
            "recall):\n",
            o_.select_validation);
        for (const auto& t : r.trials) {
          trials.push_back(
              {{"settings", t.settings}, {"validation", t.validation}, {"seconds", t.seconds}});
          std::string line;
          for (const auto& [name, value] : t.settings)
            line += fmt::format("{} {:<6} ", name, value);
          text += fmt::format("  {}val recall@{} {:.5f} ndcg@{} {:.5f}\n", line, o_.topk.front(),
                              t.validation.at(fmt::format("recall@{}", o_.topk.front())),
                              o_.topk.front(),
                              t.validation.at(fmt::format("ndcg@{}", o_.topk.front())));
        }
        j["selection"] = {{"validation", o_.select_validation},
                          {"validation_seed", o_.validation_seed},
                          {"metric", fmt::format("recall@{}", o_.topk.front())},
                          {"trials", trials},
                          {"chosen", r.chosen},
                          {"given_test", r.given_test}};
        std::string chosen;
        for (const auto& [name, value] : r.chosen) chosen += fmt::format("{} {} ", name, value);
        text +=
            fmt::format("chosen: {}(test numbers above); the settings as given on test:\n", chosen);
        for (const auto& [name, value] : r.given_test) {
          text += fmt::format("  {:<22}{:.5f}\n", name, value);
        }
      }
      text += fmt::format(
          "fit {:.2f} s, scoring {:.2f} s, {:.2f} s in all; peak RSS {:.0f} MiB "
          "(largest rank)",
          r.fit_seconds, r.eval.seconds, r.seconds,
          static_cast<double>(r.peak_rss_bytes) / (1 << 20));
      print_report(json_, j, text);
      return 0;
    });
  }

 private:
  baseline::Options o_;
  CLI::Option* rank_ = nullptr;
  CLI::Option* alpha_ = nullptr;
  int64_t rank_value_ = 0;
  double alpha_value_ = 0;
  double timeout_s_ = 600;
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_baseline_command() {
  return std::make_unique<BaselineCommand>();
}

}  // namespace halorec::cli

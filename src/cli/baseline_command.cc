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
    CLI::App* sub = app.add_subcommand(
        "baseline",
        "Training-free baselines (popularity, itemknn, ease, gfcf) scored by training's "
        "evaluator; run under mpirun for several ranks");
    sub->add_option("--method", o_.method, "popularity, itemknn, ease or gfcf")->required();
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
                    "ease: GiB the dense item x item system may take per rank");
    sub->add_option("--rank", o_.rank, "gfcf: singular vectors of the ideal low-pass filter");
    sub->add_option("--alpha", o_.alpha, "gfcf: weight of the ideal low-pass term");
    sub->add_option("--oversample", o_.oversample, "gfcf: extra vectors in the subspace iteration");
    sub->add_option("--power-iters", o_.power_iters, "gfcf: subspace iterations");
    sub->add_option("--seed", o_.seed, "gfcf: seed of the starting subspace");
    sub->add_option("--out", o_.out,
                    "Write model.h5 for recommend/evaluate: popularity, or gfcf's low-pass term "
                    "(itemknn and ease have no vectors)");
    sub->add_option("--timeout", timeout_s_,
                    "Seconds a rank waits for the others in a collective (0: forever)");
    sub->add_flag("--json", json_, "Print one JSON object on stdout (rank 0)");
    return sub;
  }

  int run() override {
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
  double timeout_s_ = 600;
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_baseline_command() {
  return std::make_unique<BaselineCommand>();
}

}  // namespace halorec::cli

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "comm/communicator_factory.h"
#include "comm/mpi_runtime.h"
#include "core/check.h"
#include "tune/tune.h"

namespace halorec::cli {

namespace {

// "90", "90s", "10m", "1.5h" -> seconds; UsageError naming --budget.
double parse_budget(const std::string& text) {
  double scale = 1;
  std::string number = text;
  if (!number.empty()) {
    const char unit = number.back();
    if (unit == 's' || unit == 'm' || unit == 'h') {
      scale = unit == 's' ? 1 : unit == 'm' ? 60 : 3600;
      number.pop_back();
    }
  }
  size_t used = 0;
  double v = -1;
  try {
    v = std::stod(number, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (number.empty() || used != number.size() || !std::isfinite(v) || v <= 0) {
    HR_THROW(UsageError, "--budget '{}' is not a duration (e.g. 600, 600s, 10m, 1h)", text);
  }
  return v * scale;
}

// Launched by mpirun (Open MPI, or a PMI/PMIx launcher such as srun)?
bool under_a_launcher() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"}) {
    if (std::getenv(v) != nullptr) return true;
  }
  return false;
}

// --ranks P outside a launcher: this command again under `mpirun -np P`
// (HALOREC_MPIEXEC names another launcher), without --ranks. Returns only on
// failure (UsageError).
[[noreturn]] void relaunch_under_mpirun(int64_t ranks) {
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (size_t b = 0; b < all.size();) {
    const size_t e = all.find('\0', b);
    args.push_back(all.substr(b, (e == std::string::npos ? all.size() : e) - b));
    b = e == std::string::npos ? all.size() : e + 1;
  }
  const char* env = std::getenv("HALOREC_MPIEXEC");
  const std::string mpiexec = env != nullptr && *env != '\0' ? env : "mpirun";
  std::vector<std::string> argv = {mpiexec, "-np", std::to_string(ranks)};
  if (ranks > static_cast<int64_t>(std::thread::hardware_concurrency())) {
    argv.emplace_back("--oversubscribe");  // more ranks than cores: Open MPI refuses otherwise
  }
  char self[4096] = {};
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  argv.emplace_back(n > 0 ? std::string(self, static_cast<size_t>(n)) : args.at(0));
  for (size_t k = 1; k < args.size(); ++k) {
    if (args[k] == "--ranks") {
      ++k;  // and its value
      continue;
    }
    if (args[k].rfind("--ranks=", 0) == 0) continue;
    argv.push_back(args[k]);
  }
  std::vector<char*> c;
  for (std::string& a : argv) c.push_back(a.data());
  c.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  execvp(c[0], c.data());
  HR_THROW(UsageError, "--ranks {}: cannot start '{}' ({}): install Open MPI's mpirun, set "
           "HALOREC_MPIEXEC, or run `mpirun -np {} halorec tune ...` yourself", ranks, mpiexec,
           std::strerror(errno), ranks);
}

class TuneCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand(
        "tune",
        "Find a recipe for a dataset within a wall-clock budget: successive halving over "
        "learned recipes, their epochs, and graph filters as hybrid partners, every choice on a "
        "validation carve of train; then the winner trained on all of train and exported "
        "(docs/tune.md). Run under mpirun for several ranks");
    sub->add_option("--dataset", o_.dataset, "dataset.h5 from halorec prepare")->required();
    sub->add_option("--budget", budget_,
                    "Wall time for the whole command, final training and export included "
                    "(600, 600s, 10m, 1h)");
    sub->add_option("--out", o_.out,
                    "Folder for the trials, tune.json, trials.svg, final/ and model.h5");
    sub->add_option("--validation", o_.validation,
                    "Share of each user's train records carved for validation");
    sub->add_option("--seed", o_.seed, "Seed of training and of the carve");
    sub->add_option("--metric", o_.metric, "What is maximized on validation: recall@K or ndcg@K");
    sub->add_option("--eval-users", o_.eval_users,
                    "Validation users per evaluation, sampled (0: all)")
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--threads", o_.threads, "Threads per rank (0: cores / ranks on the node)");
    sub->add_option("--ranks", ranks_,
                    "Ranks (shards) every trial trains on: the command starts itself under "
                    "`mpirun -np P` (HALOREC_MPIEXEC: another launcher); under mpirun or srun "
                    "it must match the job's size")
        ->check(CLI::Range(int64_t{1}, int64_t{4096}));
    sub->add_flag("--force", o_.force, "Replace an earlier tune's folder");
    sub->add_flag("--json", json_, "Print the report (tune.json) on stdout (rank 0)");
    return sub;
  }

  int run() override {
    o_.budget_s = parse_budget(budget_);
    if (ranks_ > 1 && !under_a_launcher()) relaunch_under_mpirun(ranks_);
    comm::MpiRuntime mpi(nullptr, nullptr);
    return comm::run_or_abort_job([&] {
      auto comm = comm::make_communicator("mpi", false, 600);
      if (ranks_ > 0 && comm->size() != ranks_) {
        HR_THROW(UsageError, "--ranks {}, but the job has {} rank(s): drop --ranks under mpirun, "
                 "or give the job's size", ranks_, comm->size());
      }
      const tune::TuneReport r = tune::run_tune(o_, *comm, json_ ? stderr : stdout);
      if (comm->rank() != 0) return 0;
      std::string text = fmt::format(
          "chosen: {} ({} epochs; validation {} {:.4f})\n", r.chosen.name, r.chosen.epochs,
          o_.metric, r.chosen.value);
      for (const auto& [name, value] : r.final.metrics) {
        text += fmt::format("  {:<24}{:.5f}\n", name, value);
      }
      text += fmt::format("{} trials, {:.1f} s of a {:.0f} s budget; model {}; report {}/tune.json, "
                          "picture {}/trials.svg",
                          r.trials.size(), r.seconds, r.budget_s, r.model, o_.out, o_.out);
      nlohmann::json j = {{"chosen", r.chosen.name}, {"sets", r.chosen.sets},
                          {"epochs", r.chosen.epochs}, {"validation", r.chosen.value},
                          {"seconds", r.seconds},     {"budget_seconds", r.budget_s},
                          {"trials", r.trials.size()}, {"model", r.model}};
      for (const auto& [name, value] : r.final.metrics) j[name] = value;
      print_report(json_, j, text);
      return 0;
    });
  }

 private:
  tune::TuneOptions o_;
  std::string budget_ = "10m";
  int64_t ranks_ = 0;  // 0: the job's size
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_tune_command() {
  return std::make_unique<TuneCommand>();
}

}  // namespace halorec::cli

#include <ATen/Context.h>
#include <malloc.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "comm/communicator_factory.h"
#include "comm/mpi_runtime.h"
#include "core/check.h"
#include "core/log.h"
#include "train/config.h"
#include "train/trainer.h"

namespace halorec::cli {

namespace {

// The keys a config sets, named in --help (the whole list: halorec config).
std::string train_footer() {
  std::string most;
  for (const char* k : {"data.dataset", "model.type", "model.dim", "model.layers", "train.loss",
                        "train.epochs", "train.lr", "train.batch_size", "train.weight_decay",
                        "eval.every", "output.dir"}) {
    most += fmt::format("{}{}", most.empty() ? "" : ", ", k);
  }
  return fmt::format(
      "Config keys ({} in all) go in the --config YAML or --set KEY=VALUE: {}, ...\n"
      "`halorec config` lists every key with its type, default and meaning "
      "(`halorec config train.` one section); docs/config.md has the same table.",
      train::config_keys().size(), most);
}

class TrainCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand(
        "train", "Train a model, one rank per shard (run under mpirun for several ranks)");
    sub->add_option("--config", config_, "YAML configuration (docs/config.md)");
    sub->add_option("--set", overrides_, "Override a key: --set train.epochs=20 (repeatable)");
    sub->add_option("--resume", resume_,
                    "Continue from this checkpoint, or the newest in this folder "
                    "(same as --set checkpoint.resume=DIR; 'latest' looks in checkpoint.dir)");
    sub->add_option("--init-from", init_from_,
                    "Warm start: initialize every node this checkpoint (or newest in this "
                    "folder) knows from its rows, matched by original id, e.g. after prepare "
                    "--append-to (same as --set train.init_from=DIR)");
    sub->add_flag("--force", run_.force,
                  "Start over in a run folder that holds another run's checkpoints: removes "
                  "those checkpoints and the run's logs (HaloRec's own files, nothing else)");
    sub->add_flag("--json", json_, "Print a summary as one JSON object on stdout (rank 0)");
    sub->footer(train_footer());
    return sub;
  }

  void check_args() override { (void)train::load_config(config_, overrides()); }

  int run() override {
    // Training allocates and frees the same large tensors every step: keep
    // freed memory in the heap instead of returning it to the system, which
    // would cost page faults on every reuse.
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    comm::MpiRuntime mpi(nullptr, nullptr);
    return comm::run_or_abort_job([&] {
      const train::TrainConfig c = train::load_config(config_, overrides());
      bool cuda = false;
      if (c.device == "cuda") {
        if (!at::hasCUDA()) {
          HR_THROW(ConfigError, "train.device: cuda, but this LibTorch has no CUDA or no GPU");
        }
        cuda = true;
      } else if (c.device == "auto") {
        cuda = at::hasCUDA();
      }
      auto comm = comm::make_communicator(c.comm_backend, cuda,
                                          static_cast<double>(c.comm_timeout_s));
      const train::TrainSummary s =
          train::run_training(c, *comm, json_ ? stderr : stdout, run_);
      if (comm->rank() == 0 && json_) {
        nlohmann::json j = {{"epochs", s.epochs}, {"steps", s.steps}, {"loss", s.last_loss},
                            {"seconds", s.seconds}, {"ranks", comm->size()},
                            {"output", c.output_dir}, {"exit_code", s.exit_code},
                            {"skipped_steps", s.skipped_steps}};
        for (const auto& [k, v] : s.metrics) j[k] = v;
        fmt::print("{}\n", json_text(j));
      }
      if (s.exit_code == exit_code::kStopped && comm->rank() == 0) {
        log::info("not finished: exit code {} (stopped by a signal; resume with --resume latest)",
                  exit_code::kStopped);
      }
      return s.exit_code;
    });
  }

 private:
  // --set, with --resume and --init-from as the keys they stand for.
  std::vector<std::string> overrides() const {
    std::vector<std::string> o = overrides_;
    if (!resume_.empty()) o.push_back("checkpoint.resume=" + resume_);
    if (!init_from_.empty()) o.push_back("train.init_from=" + init_from_);
    return o;
  }

  std::string config_;
  std::vector<std::string> overrides_;
  std::string resume_;
  std::string init_from_;
  train::RunOptions run_;
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_train_command() { return std::make_unique<TrainCommand>(); }

}  // namespace halorec::cli

#pragma once
// The Trainer (internal to train/): one rank's training run. Its setup
// (shard, graph, model, optimizer, resume, warm start) is in trainer_setup.cc,
// the epoch loop and the run's end in trainer.cc; run_training (trainer.h)
// is the only way in.

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/Parallel.h>
#include <c10/core/DeviceGuard.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "checkpoint/checkpoint.h"
#include "comm/exchange_plan.h"
#include "core/resources.h"
#include "data/dataset.h"
#include "model/local_graph.h"
#include "model/model.h"
#include "partition/shard_file.h"
#include "train/adam.h"
#include "train/bpr_step.h"
#include "train/contrastive_step.h"
#include "train/evaluator.h"
#include "train/neighborhood.h"
#include "train/run_folders.h"
#include "train/run_logs.h"
#include "train/sampler.h"
#include "train/trainer.h"
#include "train/training_state.h"
#include "core/env.h"

namespace halorec::train {

// What one epoch's steps add up to (for its record).
struct EpochStats {
  Stopwatch watch;
  std::vector<double> step_ms;
  int64_t skipped = 0;
  double sampled_nodes = 0, sampled_edges = 0;  // minibatch: summed over ranks and steps
  int64_t comm_rounds = 0;                       // this rank's, summed over its steps
};

// One rank's training run: setup (shard, graph, model, optimizer, sampler,
// evaluator, resume), the epoch loop (steps, then the epoch's record,
// evaluation, early stopping and checkpoint), and the run's end (digest, exit
// code, final record). Members in the order setup builds them: the model,
// sampler and evaluator point into the shard, graph and plan above them.
class Trainer {
 public:
  Trainer(const TrainConfig& c, comm::Communicator& comm, std::FILE* report,
          const RunOptions& run);
  TrainSummary run();

 private:
  enum class StepEnd { kNext, kStop, kSignal };

  void load_shard();
  void build_model();
  void resume();
  void warm_start();
  StepEnd step(EpochStats* st);
  bool run_epoch();  // false: leave the loop where it stands
  bool close_epoch(const EpochStats& st);
  nlohmann::json epoch_record(const EpochStats& st) const;
  EvalResult evaluate_now();
  bool save_if_finite(const checkpoint::TrainState& position, bool best = false);
  TrainSummary finish();
  // model.filter: the hybrid's filter part, after the last epoch (train/hybrid.h).
  void fit_filter_part();
  bool filter_part_current() const;
  std::string underfit_warning() const;
  std::string filter_part_path() const { return ckpt_root_ + "/filter.h5"; }

  const TrainConfig& c_;
  comm::Communicator& comm_;
  std::FILE* report_;
  const int P_;
  const at::Device device_;
  const std::string ckpt_root_;
  Stopwatch total_;
  int64_t threads_ = 1;
  // Kernels launched without an explicit device (and LibTorch's streams) use
  // this rank's GPU.
  c10::OptionalDeviceGuard device_guard_;

  data::DatasetInfo info_;
  partition::PartitionMeta meta_;
  partition::Shard shard_;
  model::LocalGraph graph_;
  std::unique_ptr<NeighborSampler> neighbors_;
  comm::ExchangePlan halo_;
  at::Tensor owned_ids_, owner_;
  std::unique_ptr<model::Model> net_;
  at::Tensor e0_;
  std::vector<at::Tensor> dense_, params_;
  std::unique_ptr<Adam> adam_;
  std::unique_ptr<Sampler> sampler_;
  std::unique_ptr<Evaluator> evaluator_;
  std::unique_ptr<Evaluator> validator_;  // data.validation: the carved records
  BprInputs inputs_{};
  LossConfig loss_;
  int64_t steps_per_epoch_ = 0;
  // Epochs this process has closed and their seconds (evaluations included):
  // the run's ETA.
  int64_t run_epochs_ = 0;
  double run_epoch_seconds_ = 0;
  double epochs_left_seconds(int64_t epoch, double guess) const;
  bool progress_ = false;

  RunFolders folders_;  // rank 0: the run's locks, held until the run ends
  checkpoint::Identity identity_;
  checkpoint::TrainState state_;
  TrainableState trainable_{};
  std::unique_ptr<RunLogs> logs_;
  TrainSummary summary_;
  std::vector<double> watched_;       // this process's evaluations of the watched metric
  std::vector<double> epoch_losses_;  // and its epochs' mean losses
  bool stop_ = false;
  bool signalled_ = false;
  bool finished_ = false;  // resumed from the end of a run that had ended
  std::string diverged_;  // why training stopped on non-finite values
  // HALOREC_TEST_SIGNAL_AT_STEP=<global step> (a testing aid): rank 0 raises
  // SIGUSR1 during that step, through the real handler, so tests can place a
  // scheduler's warning exactly (an epoch's last step, a mid-epoch one).
  int64_t signal_at_step_ = positive_env("HALOREC_TEST_SIGNAL_AT_STEP");
};

}  // namespace halorec::train

#pragma once
// `halorec train`: one rank per shard. Loads (or makes) the partition, trains
// MF, LightGCN or NGCF with the configured loss (BPR, sampled softmax, CCL)
// plus L2 and Adam, over full or minibatch propagation, evaluates, selects
// and checkpoints, and writes metrics.jsonl, steps.csv and the effective
// config.yaml into output.dir.

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "train/config.h"
#include "train/run_folders.h"

namespace halorec::train {

struct TrainSummary {
  int64_t epochs = 0;
  int64_t steps = 0;
  double last_loss = 0;       // mean loss of the last epoch (or of the steps max_steps ran)
  double step_ms_median = 0;  // of the same steps
  std::map<std::string, double> metrics;  // last evaluation
  double eval_seconds = 0;                // of the last evaluation
  double seconds = 0;
  std::string dense_digest;   // SHA-256 of the replicated dense parameters (empty if none)
  int64_t skipped_steps = 0;  // train.on_nonfinite: skip
  // exit_code::kOk when every epoch ran (or early stopping ended the run);
  // kStopped after a signal (a checkpoint of the position is committed);
  // kDiverged after a non-finite loss, gradient or parameter (nothing of it
  // committed, earlier checkpoints kept).
  int exit_code = 0;
};

// Collective: every rank calls it with the same config. Rank 0 prints a
// readable line per epoch to `report` (stdout; stderr when stdout carries JSON).
// Before any work rank 0 checks the run's folders (core/output_path.h):
// output.dir, checkpoint.dir and data.parts are new, empty or HaloRec's own,
// and writable; a run folder with another run's checkpoints needs --resume
// or --force.
TrainSummary run_training(const TrainConfig& config, comm::Communicator& comm,
                          std::FILE* report = stdout, const RunOptions& run = {});

}  // namespace halorec::train

#pragma once
// The folders a training run works in: output.dir (config.yaml, logs),
// the checkpoints folder and the partition folder, checked and made before
// any work (core/output_path.h's rule: new, empty or HaloRec's own).

#include <string>

#include "comm/communicator.h"
#include "train/config.h"

namespace halorec::train {

struct RunOptions {
  // Start over in a run folder that holds another run's checkpoints: removes
  // those checkpoints and the run's logs (HaloRec's own files, nothing else).
  bool force = false;
};

// checkpoint.dir, or output.dir/checkpoints.
std::string checkpoint_root(const TrainConfig& c);
// checkpoint.keep_best's folder: <checkpoint root>/best.
std::string best_checkpoint_root(const TrainConfig& c);

// Rank 0, before any work: the run's folders follow the output rule, and a
// fresh run does not mix with another run's checkpoints (UsageError without
// --resume or --force; --force removes them and the run's logs). Removes
// checkpoints that were never committed.
void prepare_run_folders(const TrainConfig& c, const RunOptions& run);

// The partition folder a config trains on, made (rank 0) or remade when
// absent, stale or for another rank count. Collective.
std::string ensure_partition(const TrainConfig& config, comm::Communicator& comm);

// Writes `text` to `path` through a staged file: the old file or the whole
// new one, never a half-written one.
void write_text_atomically(const std::string& path, const std::string& text);

}  // namespace halorec::train

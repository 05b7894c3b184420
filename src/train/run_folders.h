#pragma once
// The folders a training run works in: output.dir (config.yaml, logs),
// the checkpoints folder and the partition folder, checked and made before
// any work (core/output_path.h's rule: new, empty or HaloRec's own).

#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/path_lock.h"
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

// The folders of a run while it runs: locked against a second writer
// (core/path_lock.h). Folders this run made are removed again when setup
// fails before keep() (a user error leaves nothing behind).
class RunFolders {
 public:
  RunFolders() = default;
  ~RunFolders();
  RunFolders(RunFolders&&) = default;
  RunFolders& operator=(RunFolders&&) = default;
  RunFolders(const RunFolders&) = delete;
  RunFolders& operator=(const RunFolders&) = delete;
  void keep() {
    created_.clear();
    parents_.clear();
  }

 private:
  friend RunFolders prepare_run_folders(const TrainConfig& c, const RunOptions& run);
  std::vector<PathLock> locks_;
  std::vector<std::string> created_;  // made by this run, innermost first
  std::vector<std::string> parents_;  // made to hold them, innermost first
};

// Rank 0, before any work: locks output.dir (and checkpoint.dir when it lies
// elsewhere); the run's folders follow the output rule, play one role each
// (data.parts, checkpoint.dir and output.dir are different folders), and a
// fresh run does not mix with another run's checkpoints (UsageError without
// --resume or --force; --force removes them and the run's logs, never an
// input of this run such as train.init_from). Removes checkpoints that were
// never committed.
RunFolders prepare_run_folders(const TrainConfig& c, const RunOptions& run);

// The partition folder a config trains on, made (rank 0, under its lock) or
// remade when absent, stale or for another rank count. Collective.
std::string ensure_partition(const TrainConfig& config, comm::Communicator& comm);

// Whether `dir` holds a partition that `config` can train on with `parts`
// ranks (its dataset, carve and social edges); rank 0, reads only.
bool partition_fits(const TrainConfig& config, const std::string& dir, int parts);

// Writes `text` to `path` through a staged file: the old file or the whole
// new one, never a half-written one.
void write_text_atomically(const std::string& path, const std::string& text);

}  // namespace halorec::train

#pragma once
// Sharded checkpoints (docs/formats.md, "checkpoints/"). A checkpoint is a
// folder step-NNNNNNNNNN/ with one file per rank (owned rows by global id,
// their Adam moments), dense.h5 from rank 0 (replicated parameters, their
// Adam moments, the training position) and the effective config. After a
// barrier, rank 0 writes the COMMITTED marker last (fsync'd); a folder
// without it does not exist for readers. Rows are stored by global id, so a
// checkpoint written by P ranks loads into any number of ranks.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace halorec::checkpoint {

inline constexpr const char* kShardFormat = "halorec.checkpoint.shard";
inline constexpr const char* kDenseFormat = "halorec.checkpoint.dense";
inline constexpr int64_t kFormatVersion = 1;
inline constexpr const char* kMarker = "COMMITTED";

// Where training stands: enough to continue exactly.
struct TrainState {
  int64_t epoch = 1;          // epoch in progress (or next to start)
  int64_t step_in_epoch = 0;  // steps of that epoch already done
  int64_t global_step = 0;
  double loss_sum = 0;        // this epoch's summed rank-0... global losses so far
  int64_t steps_run = 0;      // steps of this epoch counted in loss_sum
  double best = -1;           // early stopping
  int64_t since_best = 0;
  double lr_scale = 1;        // train.lr_schedule plateau: the decays so far, as a factor
  std::string last_metrics_json = "{}";
};

struct Identity {
  std::string dataset_fingerprint;
  std::string model_type;
  int64_t dim = 0;
  int64_t layers = 0;
  // SHA-256 of the social edges file the graph had (data.social); "": none.
  std::string social_fingerprint;
};

struct Content {
  std::vector<int64_t> owned;  // global ids of the rows below
  at::Tensor e0, m, v;         // [rows, dim] float (CPU)
  int64_t adam_step = 0;
  std::vector<at::Tensor> dense, dense_m, dense_v;  // replicated (CPU)
  TrainState state;
  std::string config_yaml;
};

// Collective. Writes <root>/step-<global_step>/ and commits it; then rank 0
// removes committed checkpoints beyond the newest `keep` (never the one just
// committed) and uncommitted leftovers. Returns the checkpoint folder.
// HALOREC_TEST_CRASH_IN_CHECKPOINT=<global step> (a testing aid) makes the
// last rank exit abruptly (code 99) after writing its shard and before the
// marker.
std::string write_checkpoint(const std::string& root, const Content& content,
                             const Identity& id, comm::Communicator& comm, int64_t keep);

// `path` itself when it is a committed checkpoint, else the newest committed
// checkpoint inside it; "" when there is none.
std::string find_latest(const std::string& path);
// `path` itself when it is a committed checkpoint, else every committed
// checkpoint inside it, newest first.
std::vector<std::string> list_committed(const std::string& path);
// Removes the step folders under `root` that have no commit marker (left by
// a job that ended while writing them); returns them.
std::vector<std::string> remove_uncommitted(const std::string& root);

// Reads the rows of `owned` (global ids, ascending) and everything replicated,
// from a checkpoint written by any number of ranks. InputError/CheckpointError
// naming the file on a format, version, identity or completeness mismatch,
// on shapes that do not match, and on NaN or infinite values.
Content load_checkpoint(const std::string& dir, const std::vector<int64_t>& owned,
                        const Identity& expected);

// Only the identity and config of a checkpoint (for export).
Identity read_identity(const std::string& dir, std::string* config_yaml);

}  // namespace halorec::checkpoint

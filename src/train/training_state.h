#pragma once
// The trainable state of one rank (layer-0 rows, replicated dense parameters
// and their Adam moments) to and from sharded checkpoints.

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "comm/communicator.h"
#include "train/adam.h"
#include "train/config.h"

namespace halorec::train {

struct TrainableState {
  const std::vector<int64_t>* owned;  // global ids of e0's rows
  at::Tensor e0;
  std::vector<at::Tensor> dense;
  Adam* adam;  // over {e0, dense...} in that order
};

// Collective. Writes a checkpoint of `s` at `position` into `root`, keeping
// the newest `keep` there (0: checkpoint.keep).
void save_checkpoint(const std::string& root, const TrainableState& s,
                     const checkpoint::TrainState& position, const checkpoint::Identity& id,
                     const TrainConfig& c, comm::Communicator& comm, int64_t keep = 0);

// Loads `from` (any writer rank count) into `s` and returns the position to
// continue from.
checkpoint::TrainState restore_checkpoint(const std::string& from, TrainableState& s,
                                          const checkpoint::Identity& id);

// Collective. Restores the first of `candidates` (newest first) that every
// rank reads without error, into `s` and `*position`, and returns it. One that
// any rank cannot read (unreadable, truncated, NaN, not matching the run) is
// skipped on every rank with a warning naming it and why. The error of the
// last candidate when none can be read.
std::string restore_newest_valid(const std::vector<std::string>& candidates, TrainableState& s,
                                 const checkpoint::Identity& id, comm::Communicator& comm,
                                 checkpoint::TrainState* position);

}  // namespace halorec::train

#pragma once
// train.lr_schedule: the rate of each step, and plateau's decays. The rate is
// a pure function of the step and the checkpointed plateau factor
// (TrainState::lr_scale), so a resumed run continues it exactly.

#include <cstdint>

#include "train/config.h"

namespace halorec::train {

// The learning rate of global step `step` (0-based) under the schedule,
// warm-up included. For `plateau` it is train.lr (after warm-up): the trainer
// multiplies it by the factor plateau_decay has set.
double learning_rate(const TrainConfig& c, int64_t step, int64_t steps_per_epoch);

// plateau: the factor after `scale` is decayed once (times train.lr_decay,
// never below train.lr_min / train.lr).
double plateau_decay(const TrainConfig& c, double scale);

}  // namespace halorec::train

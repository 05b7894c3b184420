#pragma once
// What an evaluation decides, over the checkpointed position (best,
// since_best, lr_scale): whether it is the best so far (checkpoint.keep_best),
// a plateau decay of the rate (train.lr_schedule plateau), and early
// stopping (eval.patience). With a validation carve the watched metric is
// validation's, never test's.

#include <map>
#include <string>

#include "checkpoint/checkpoint.h"
#include "train/config.h"

namespace halorec::train {

struct Selection {
  bool improved = false;  // the best watched value so far
  bool stop = false;      // eval.patience ran out
};

// The metric selection watches: eval.metric, or val_<eval.metric> with a
// validation carve.
std::string watched_metric(const TrainConfig& c, bool validation);

// Updates `state` with one evaluation's `metrics`; `speak` logs the decay or
// the stop (rank 0).
Selection select_after_evaluation(const TrainConfig& c, bool validation,
                                  const std::map<std::string, double>& metrics,
                                  checkpoint::TrainState* state, bool speak);

}  // namespace halorec::train

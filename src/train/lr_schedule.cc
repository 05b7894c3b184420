#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace halorec::train {

double learning_rate(const TrainConfig& c, int64_t step, int64_t steps_per_epoch) {
  double lr = c.lr;
  const int64_t total = std::max<int64_t>(1, c.epochs * steps_per_epoch);
  if (c.lr_schedule == LrSchedule::kCosine) {
    const double p = std::min(1.0, static_cast<double>(step) / static_cast<double>(total));
    lr = c.lr_min + 0.5 * (c.lr - c.lr_min) * (1.0 + std::cos(M_PI * p));
  } else if (c.lr_schedule == LrSchedule::kStep) {
    const int64_t epoch = step / std::max<int64_t>(1, steps_per_epoch);
    lr = c.lr * std::pow(c.lr_decay, static_cast<double>(epoch / c.lr_decay_epochs));
  }
  if (step < c.warmup_steps) {
    lr *= static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  }
  return lr;
}

double plateau_decay(const TrainConfig& c, double scale) {
  const double floor = c.lr_min / c.lr;
  return scale > floor ? std::max(floor, scale * c.lr_decay) : scale;
}

}  // namespace halorec::train

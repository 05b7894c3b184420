#include "train/selection.h"

#include "core/log.h"
#include "train/evaluator.h"
#include "train/lr_schedule.h"

namespace halorec::train {

std::string watched_metric(const TrainConfig& c, bool validation) {
  return (validation ? kValidationPrefix : "") + c.eval_metric;
}

Selection select_after_evaluation(const TrainConfig& c, bool validation,
                                  const std::map<std::string, double>& metrics,
                                  checkpoint::TrainState* state, bool speak) {
  Selection s;
  const std::string name = watched_metric(c, validation);
  const double watched = metrics.at(name);
  if (watched > state->best) {
    state->best = watched;
    state->since_best = 0;
    s.improved = true;
    return s;
  }
  ++state->since_best;
  if (c.lr_schedule == LrSchedule::kPlateau && state->since_best % c.plateau_patience == 0) {
    const double decayed = plateau_decay(c, state->lr_scale);
    if (decayed != state->lr_scale) {
      state->lr_scale = decayed;
      if (speak) {
        log::info("plateau: {} did not improve for {} evaluations; lr now {:.3g}", name,
                  c.plateau_patience, c.lr * state->lr_scale);
      }
    }
  }
  if (c.patience > 0 && state->since_best >= c.patience) {
    if (speak) log::info("early stop: {} did not improve for {} evaluations", name, c.patience);
    s.stop = true;
  }
  return s;
}

}  // namespace halorec::train

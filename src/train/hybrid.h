#pragma once
// A hybrid's filter part (model.filter, docs/hybrid.md): after the last
// epoch a graph filter is fitted over every rank's users on the run's train
// records, the mix of its scores with the learned model's is chosen on the
// validation carve (or given), the filter is refitted on all of train (the
// carve included), and the hybrid is evaluated on test beside each part
// alone. The filter part goes to a file that `export` puts into model.h5.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "comm/communicator.h"
#include "model/graph_filter.h"
#include "partition/shard.h"
#include "train/config.h"

namespace halorec::train {

// The filter's settings from the config (model.filter_*; the method's
// defaults where unset).
model::FilterSettings hybrid_filter_settings(const TrainConfig& c);

struct HybridResult {
  double mix = 0;
  std::vector<std::pair<double, double>> trials;  // auto: mix, validation metric
  // On test: the hybrid's metrics under their names, and "filter_" and
  // "learned_" before the names for each part alone; with a carve the
  // chosen mix's validation metrics as "val_" ones.
  std::map<std::string, double> metrics;
  double seconds = 0;
};

// Collective, after training. `final_owned`: the scoring vectors of the
// shard's owned rows (users and items; model::scoring_vectors). Rank 0
// writes the filter part to `path` (staged) for training step `step` and
// prints what it chose to `report`.
HybridResult fit_hybrid(const TrainConfig& c, const partition::Shard& shard,
                        const at::Tensor& final_owned, comm::Communicator& comm,
                        const std::string& path, int64_t step, const std::string& fingerprint,
                        std::FILE* report);

}  // namespace halorec::train

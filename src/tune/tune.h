#pragma once
// `halorec tune`: a recipe for any dataset within a wall-clock budget
// (docs/tune.md). Every choice is made on a validation carve of train:
// successive halving over a fixed list of learned recipes (each trial a real
// `halorec train` run, resumed to more epochs as it survives), then the
// epochs of the survivor while its validation metric still rises, then each
// graph filter as its hybrid partner (model.filter, the mix on the carve);
// the winner is trained again on all of train, exported and evaluated on
// test once. Every trial (settings, epochs, seconds, validation metrics)
// goes to tune.json, and a picture of them to trials.svg.

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace halorec::tune {

struct TuneOptions {
  std::string dataset;
  double budget_s = 600;  // the whole command's wall time, final training and export included
  std::string out = "runs/tune";
  double validation = 0.1;        // the carve every choice is made on
  uint64_t seed = 2020;           // training and the carve
  std::string metric = "recall@20";  // recall@K, ndcg@K: what is maximized on validation
  int64_t threads = 0;
  int64_t eval_users = 0;  // validation users per evaluation, sampled; 0: all
  bool force = false;      // replace an earlier tune's folder
};

struct Trial {
  std::string name;                // the recipe (or "NAME+FILTER" for a hybrid)
  std::vector<std::string> sets;   // its config overrides
  std::string stage;               // "halving", "epochs", "filter", "final"
  int64_t epochs = 0;
  double seconds = 0;              // this trial's own wall time
  double at_seconds = 0;           // the tune's clock when it ended
  double value = 0;                // the metric on validation (test for "final")
  std::map<std::string, double> metrics;
};

struct TuneReport {
  std::vector<Trial> trials;
  Trial chosen;   // the recipe trained on all of train
  Trial final;    // its run: test metrics
  std::string model;  // the exported model.h5
  double seconds = 0;
  double budget_s = 0;
};

// Collective: every rank runs the same trials (each a training run over all
// ranks). Rank 0 writes <out>/tune.json and <out>/trials.svg and prints a
// line per trial to `report`.
TuneReport run_tune(const TuneOptions& o, comm::Communicator& comm, std::FILE* report);

// The candidate recipes, in the order they are tried: name and overrides.
std::vector<std::pair<std::string, std::vector<std::string>>> recipes();

}  // namespace halorec::tune

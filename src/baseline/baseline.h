#pragma once
// `halorec baseline`: the training-free floors every trained model is
// compared with, computed over the same user shards and communicator as
// training and scored by training's evaluator (docs/baselines.md).
//
// Each rank holds the train rows of its users (a partition's owned users, or
// a contiguous range of user ids); item-side quantities are sums over ranks
// (one all-reduce each), so the numbers do not depend on the rank count.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "model/graph_filter.h"
#include "train/evaluator.h"

namespace halorec::baseline {

struct Options {
  std::string method;   // popularity | itemknn | ease | gfcf | bspm | chebycf
  std::string dataset;  // dataset.h5
  std::string parts;    // a partition of it for this rank count ("": user ranges)
  std::vector<int64_t> topk = {20};
  int64_t batch_users = 512;  // users scored per block
  int64_t eval_users = 0;     // about this many sampled test users (train's eval.users); 0: all
  int64_t threads = 0;        // 0: cores / ranks on the node
  // itemknn: neighbours kept per item, and the shrink term of the cosine.
  int64_t neighbors = 100;
  double shrink = 50;
  // ease: L2 weight.
  double lambda = 250;
  // The memory a rank may take (ease's dense item x item system; the
  // filters' graph, basis and scoring blocks), GiB.
  double max_memory_gib = 8;
  // gfcf, bspm, chebycf: the ideal low-pass term over the top `rank`
  // singular vectors of R~ (unset: 256, 448, 512), weight alpha (unset: 0.3,
  // 0.2, 0.2; 0: none); subspace iteration with `oversample` extra vectors
  // and `power_iters` products with R~^T R~. Defaults: the published
  // settings for Gowalla.
  std::optional<int64_t> rank;
  std::optional<double> alpha;
  int64_t oversample = 64;
  int64_t power_iters = 24;
  uint64_t seed = 2020;
  // bspm: blurring dx/dt = x (P - I) over t_blur in blur_steps, then
  // sharpening dx/dt = -x P over t_sharpen in sharpen_steps (euler | rk4).
  double t_blur = 1;
  int64_t blur_steps = 1;
  std::string blur_solver = "euler";
  double t_sharpen = 2.5;
  int64_t sharpen_steps = 1;
  std::string sharpen_solver = "rk4";
  // chebycf: Chebyshev order, the plateau's flatness, the degree
  // normalization's power.
  int64_t order = 8;
  double flatness = 1.5;
  double beta = 0.4;
  // gfcf, bspm, chebycf: choose the settings on a validation carve of train
  // (this share of each user's train records, keyed by validation_seed; 0:
  // the settings as given), ranking about select_users sampled validation
  // users (0: all) by the first --k's recall; then fit on all of train with
  // the choice, and report its test numbers beside the given settings'.
  double select_validation = 0;
  uint64_t validation_seed = 2020;
  int64_t select_users = 5000;
  // model.h5 to write (popularity; gfcf's low-pass term), "" for none.
  std::string out;
};

struct Result {
  train::EvalResult eval;
  double fit_seconds = 0;              // everything before scoring
  double seconds = 0;                  // all of it
  int64_t users = 0;                   // all ranks' users
  int64_t peak_rss_bytes = 0;          // the largest over ranks
  std::map<std::string, double> info;  // method facts: neighbours kept, eigenvalues, ...
  // With select_validation: every setting tried, in order, with its
  // validation metrics (names as the test metrics); the chosen settings; and
  // the test metrics of the settings as given (the published ones by
  // default), beside eval's, which are the chosen settings'.
  struct Trial {
    std::map<std::string, double> settings;
    std::map<std::string, double> validation;
    double seconds = 0;
  };
  std::vector<Trial> trials;
  std::map<std::string, double> chosen;
  std::map<std::string, double> given_test;
};

// UsageError for an unknown method, an option out of range (names the
// option), or --out for a method without user and item vectors.
void check_options(const Options& o);

// Collective.
Result run_baseline(const Options& o, comm::Communicator& comm);

// The settings selection varies, by name (gfcf: alpha; bspm: alpha, t_blur,
// t_sharpen; chebycf: alpha, flatness, beta).
std::map<std::string, double> settings_map(const model::FilterSettings& s);

}  // namespace halorec::baseline

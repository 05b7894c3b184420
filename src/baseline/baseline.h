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
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "train/evaluator.h"

namespace halorec::baseline {

struct Options {
  std::string method;   // popularity | itemknn | ease | gfcf
  std::string dataset;  // dataset.h5
  std::string parts;    // a partition of it for this rank count ("": user ranges)
  std::vector<int64_t> topk = {20};
  int64_t batch_users = 512;  // users scored per block
  int64_t eval_users = 0;     // about this many sampled test users (train's eval.users); 0: all
  int64_t threads = 0;        // 0: cores / ranks on the node
  // itemknn: neighbours kept per item, and the shrink term of the cosine.
  int64_t neighbors = 100;
  double shrink = 50;
  // ease: L2 weight, and the memory the dense item x item system may take.
  double lambda = 250;
  double max_memory_gib = 8;
  // gfcf: ideal low-pass over the top `rank` singular vectors, weight alpha;
  // subspace iteration with `oversample` extra vectors and `power_iters`
  // products with R~^T R~.
  int64_t rank = 256;
  double alpha = 0.3;
  int64_t oversample = 64;
  int64_t power_iters = 24;
  uint64_t seed = 2020;
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
};

// UsageError for an unknown method, an option out of range (names the
// option), or --out for a method without user and item vectors.
void check_options(const Options& o);

// Collective.
Result run_baseline(const Options& o, comm::Communicator& comm);

}  // namespace halorec::baseline

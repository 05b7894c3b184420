#pragma once
// Top-K recommendations from a model.h5 alone (no trainer, no MPI). The
// strategies are in strategies.h, candidate retrieval (exact or ANN) in
// retrieval.h, explanations in explain.h, offline metrics in evaluate.h.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "serve/alignment.h"
#include "serve/ann_index.h"
#include "serve/model_file.h"
#include "serve/strategies.h"

namespace halorec::serve {

struct RecommendOptions {
  int64_t k = 20;
  Strategy strategy = Strategy::kSingle;
  double diversity = 0.3;           // mmr
  int64_t candidates = 200;         // mmr: pool size (at least k)
  // multi: interest k's query is the user's vector turned toward the
  // interest's medoid, u + steer |u| m_k / |m_k|. 0 gives single's lists; a
  // large value retrieves from the medoid alone (PinnerSage), which on LastFM
  // cost 40 % of Recall@20. 0.2 was chosen on a validation carve of LastFM's
  // train split (docs/interests.md).
  double steer = 0.2;
  // The model's dataset: each user's train items are left out, and are what
  // explanations point to. May be null (then nothing is excluded).
  const data::Dataset* seen = nullptr;
  int64_t explain = 0;  // per item, this many of the user's own items that explain it
  // Retrieve candidates through this ANN index (ann_index.h) instead of
  // scoring every item: the best pool + (the user's seen items) by the index,
  // seen items dropped afterwards. Null: the exact blocked product.
  const AnnIndex* index = nullptr;
};

struct Explanation {
  int32_t interest = -1;  // index into the user's interests (by weight), -1 without interests
  std::vector<std::pair<std::string, float>> because;  // (user's item, similarity), best first
};

struct Recommendation {
  std::string user;
  std::vector<std::pair<std::string, float>> items;  // (original item id, score), best first
  std::vector<Explanation> why;                      // per item, with RecommendOptions::explain
};

// Lists for users by original id (pseudonymized models: raw ids and the
// export's `key`). UsageError on bad options, InputError naming an unknown
// user or a dataset that is not the model's.
std::vector<Recommendation> recommend(const ModelFile& model, const std::vector<std::string>& users,
                                      const RecommendOptions& options, const std::string& key = "");

}  // namespace halorec::serve

#pragma once
// Top-K recommendations and offline evaluation from a model.h5 alone.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "serve/model_file.h"

namespace halorec::serve {

struct Recommendation {
  std::string user;
  std::vector<std::pair<std::string, float>> items;  // (original item id, score), best first
};

// Top-k items for each user (original ids). With `seen` (the model's
// dataset; its fingerprint must match), the user's train items are excluded.
// InputError naming the first unknown user id.
std::vector<Recommendation> recommend(const ModelFile& model, const std::vector<std::string>& users,
                                      int64_t k, const data::Dataset* seen);

// Training's evaluation metrics (Recall, NDCG, Precision, HitRate @ each k)
// of the model's vectors on the dataset's test interactions.
std::map<std::string, double> evaluate_model(const ModelFile& model, const data::Dataset& d,
                                             const std::vector<int64_t>& topk);

}  // namespace halorec::serve

#pragma once
// Offline evaluation of a model.h5 on its dataset's test interactions.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "serve/model_file.h"
#include "serve/recommend.h"

namespace halorec::serve {

// Training's evaluation metrics (Recall, NDCG, Precision, HitRate @ each k)
// of the model's vectors on the dataset's test interactions, by the same
// functions as training's evaluator (metrics/ranking.h: every item ranked,
// train items excluded).
std::map<std::string, double> evaluate_model(const ModelFile& model, const data::Dataset& d,
                                             const std::vector<int64_t>& topk);

// Cold-start items (prepare --cold-items): each user with cold test records
// ranks the cold items alone (their vectors in the model: content features'
// rows of ids the dataset lacks), against that user's cold test items.
// Keys: cold/recall@k, cold/ndcg@k, cold/precision@k, cold/hitrate@k, and
// beside them what needs no model: cold/random_recall@k (a uniform ranking's
// expected recall) and cold/popularity_recall@k (cold items ranked by how
// many other users have them in cold test: popularity as it will be, an
// oracle no cold-start model has); cold/users, cold/items and
// cold/items_without_vector (never ranked: misses). Empty when the dataset
// has no cold items or the model no vector for any of them.
std::map<std::string, double> evaluate_cold(const ModelFile& model, const data::Dataset& d,
                                            const std::vector<int64_t>& topk);

// Accuracy and beyond-accuracy metrics of a strategy's lists for every test
// user, at each k: recall@k, ndcg@k, coverage@k (distinct items recommended /
// items), ild@k (intra-list diversity: mean 1 - cosine over pairs in a list),
// novelty@k (mean self-information -log2(share of users with the item in
// train)), averaged over test users.
std::map<std::string, double> evaluate_strategy(const ModelFile& model, const data::Dataset& d,
                                                const std::vector<int64_t>& topk,
                                                RecommendOptions options);

}  // namespace halorec::serve

#pragma once
// Top-K recommendations and offline evaluation from a model.h5 alone.
//
// Strategies (docs/interests.md):
//   single  the K items with the highest score <user vector, item vector>
//   multi   retrieval from each of the user's interests (the medoid item's
//           vector against every item), merged by interest weight: slots go
//           to interests in proportion to their weights (D'Hondt order), each
//           slot taking that interest's best item not yet chosen
//   mmr     maximal marginal relevance over the `candidates` best items:
//           greedily the item maximizing (1 - diversity) * relevance -
//           diversity * (largest cosine similarity to an item already chosen),
//           relevance being the score scaled to [0, 1] over the candidates

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "serve/ann_index.h"
#include "serve/model_file.h"

namespace halorec::serve {

struct RecommendOptions {
  int64_t k = 20;
  std::string strategy = "single";  // single | multi | mmr
  double diversity = 0.3;           // mmr
  int64_t candidates = 200;         // mmr: pool size (at least k)
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

// Lists for dense user rows (the engine behind recommend and evaluate):
// item rows best first; `scores` (optional) gets each item's score under the
// strategy's ranking (the dot product with the user's or the interest's
// vector); `interest` (optional) gets, for multi, the interest each came from.
std::vector<std::vector<int64_t>> recommend_rows(
    const ModelFile& model, const std::vector<int64_t>& user_rows, const RecommendOptions& options,
    std::vector<std::vector<float>>* scores = nullptr,
    std::vector<std::vector<int32_t>>* interest = nullptr);

// The model's user row of each id. For a pseudonymized model `key` (the
// export's key) turns raw ids into their pseudonyms; a wrong key is told apart
// from an unknown user. InputError naming the first unknown user id.
std::vector<int64_t> user_rows_of(const ModelFile& model, const std::vector<std::string>& users,
                                  const std::string& key);

std::vector<Recommendation> recommend(const ModelFile& model, const std::vector<std::string>& users,
                                      const RecommendOptions& options, const std::string& key = "");

// Training's evaluation metrics (Recall, NDCG, Precision, HitRate @ each k)
// of the model's vectors on the dataset's test interactions, computed by the
// training evaluator (ranking every item, train items excluded).
std::map<std::string, double> evaluate_model(const ModelFile& model, const data::Dataset& d,
                                             const std::vector<int64_t>& topk);

// Accuracy and beyond-accuracy metrics of a strategy's lists for every test
// user, at each k: recall@k, ndcg@k, coverage@k (distinct items recommended /
// items), ild@k (intra-list diversity: mean 1 - cosine over pairs in a list),
// novelty@k (mean self-information -log2(share of users with the item in
// train)), averaged over test users.
std::map<std::string, double> evaluate_strategy(const ModelFile& model, const data::Dataset& d,
                                                const std::vector<int64_t>& topk,
                                                RecommendOptions options);

// InputError unless `d` is the dataset the model was trained on.
void check_model_dataset(const ModelFile& model, const data::Dataset& d);

// Before a model is used with its dataset (--exclude-seen, evaluate,
// interests): its rows are put in the dataset's order, cold-start ones after.
// A model exported by several ranks stores each rank's rows together; a
// pseudonymized one stores its users in pseudonym order, matched to the
// dataset's users by recomputing each one's pseudonym under `key` (UsageError
// without it). InputError when a dataset user or item has no row.
void align_to_dataset(ModelFile& model, const data::Dataset& d, const std::string& key);

}  // namespace halorec::serve

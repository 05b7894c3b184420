#pragma once
// Fold-in at serving: a vector for a user from a history of items, computed
// the way the model would (docs/living.md). LightGCN: the propagation of one
// more user node with those edges (an item named n times: weight n) over the frozen item
// layers the export kept: h_u^(k) = sum_i w_i h_i^(k-1) / sqrt(D_u D_i), final =
// mean of h_u^(0..L), with h_u^(0) the user's trained layer 0 when the
// history's label is a user of the model, else 0; cosine models then unit
// length. A user of the model refolded with their own train items gets their
// exported vector back (to float rounding). MF: the least-squares fit of
// the history against all items' vectors (fold_in.cc; docs/living.md).
// Friends (a LightGCN trained with data.social): the new user node also gets
// a social edge to each friend (a user of the model) of the model's mean
// social edge weight w, so h_u^(k) adds beta * sum_v w h_v^(k-1) /
// sqrt(S_u S_v) over the friends' frozen layers, S_u = w x friends, S_v and
// beta the model's; a user of the model
// refolded with their own items and friends gets their exported vector back.

#include <string>
#include <vector>

#include "serve/model_file.h"
#include "serve/recommend.h"

namespace halorec::serve {

struct History {
  std::string label;               // a user of the model (keeps its layer 0), or any name
  std::vector<std::string> items;  // original item ids
  std::vector<std::string> friends;  // original user ids of the model (may be empty)
};

// Row-major [histories, dim]. InputError when the model has no fold-in data
// (names why) or a history names an unknown item; UsageError on an empty one.
std::vector<float> fold_in(const ModelFile& m, const std::vector<History>& histories);

// Lists for folded-in users (strategy single; each history's items left
// out); `vectors` (optional) gets the folded vectors.
std::vector<Recommendation> recommend_histories(const ModelFile& m,
                                                const std::vector<History>& histories,
                                                const RecommendOptions& options,
                                                std::vector<float>* vectors = nullptr);

}  // namespace halorec::serve

#pragma once
// How a user's list is made from candidates (docs/interests.md):
//   single  the K items with the highest score <user vector, item vector>
//   multi   retrieval from each of the user's interests (the medoid item's
//           vector against every item), merged by interest weight: slots go
//           to interests in proportion to their weights (D'Hondt order), each
//           slot taking that interest's best item not yet chosen
//   mmr     maximal marginal relevance over the `candidates` best items:
//           greedily the item maximizing (1 - diversity) * relevance -
//           diversity * (largest cosine similarity to an item already chosen),
//           relevance being the score scaled to [0, 1] over the candidates

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace halorec::serve {

enum class Strategy { kSingle, kMulti, kMmr };

// "single", "multi", "mmr"; UsageError naming --strategy otherwise.
Strategy parse_strategy(const std::string& s);
const char* strategy_name(Strategy s);

// multi: interest j's best items are lists[first + j] (scores in values);
// picks up to k items into out (with their scores and interest index).
void merge_by_weight(const std::vector<std::vector<int64_t>>& lists,
                     const std::vector<std::vector<float>>& values, int64_t first,
                     const std::vector<float>& weights, int64_t k, std::vector<int64_t>* out,
                     std::vector<float>* out_scores, std::vector<int32_t>* out_interest);

// mmr: up to k of the candidates (best first, with scores); items_unit holds
// every item's unit vector.
void mmr_select(const std::vector<int64_t>& cand, const std::vector<float>& score,
                const at::Tensor& items_unit, int64_t k, double diversity,
                std::vector<int64_t>* out, std::vector<float>* out_scores);

}  // namespace halorec::serve

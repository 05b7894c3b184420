#pragma once
// Ranking metrics, one definition for every caller: training's distributed
// evaluator (which adds the all-reduce of the sums), `halorec evaluate` and
// the baselines. Pure functions over ranked lists, plus the one masked top-K
// both evaluators rank with, so their numbers are equal by construction.
//
// Per user with relevant (test) items and cut-off k, over the first k ranked:
//   recall    hits / |relevant|
//   ndcg      DCG / ideal DCG, the ideal over min(|relevant|, k) hits
//             (as the LightGCN reference), gains 1 / log2(rank + 2)
//   precision hits / k
//   hitrate   1 if any hit
// Beyond accuracy, over a list: coverage (distinct items recommended to any
// user / items), intra-list diversity (mean 1 - cosine over pairs), novelty
// (mean self-information -log2(share of users with the item in train)).

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace halorec::metrics {

// The per-list metrics, in the order of their sums: sums[kPerList * c + m].
inline constexpr int kPerList = 4;
inline constexpr const char* kNames[kPerList] = {"recall", "ndcg", "precision", "hitrate"};

// Adds the metrics of one ranked list against the sorted set of relevant
// items [rel_begin, rel_end) to sums[kPerList * c + m] for each cut-off topk[c].
// A user with no relevant items adds nothing.
void add_ranking_metrics(const int64_t* ranked, int64_t ranked_len, const int64_t* rel_begin,
                         const int64_t* rel_end, const std::vector<int64_t>& topk, double* sums);

// "recall@20" -> sum / users for each metric and cut-off (0 with no users).
std::map<std::string, double> means(const std::vector<double>& sums, double users,
                                    const std::vector<int64_t>& topk);

// The `max_k` best columns of each row of `scores` ([rows, items], float),
// best first, after setting the flat positions `masked` (row * items + item:
// the items a user has already seen) to -inf; ties as at::topk breaks
// them. Returns [rows, max_k] int64 on the CPU.
at::Tensor masked_topk(at::Tensor scores, const std::vector<int64_t>& masked, int64_t max_k);

// Marks, for each cut-off, the items of one ranked list: hits[c * items + item].
void mark_listed(const int64_t* ranked, int64_t ranked_len, const std::vector<int64_t>& topk,
                 int64_t items, uint8_t* hits);

// Distinct items flagged in each cut-off's row of `hits` / items.
std::vector<double> coverage(const uint8_t* hits, const std::vector<int64_t>& topk, int64_t items);

// Mean self-information of the listed items: -log2(max(1, users_with_item) /
// users), averaged over the list (0 for an empty list).
double novelty(const int64_t* listed, int64_t len, const std::vector<int64_t>& item_users,
               int64_t users);

// 1 - mean cosine over the len * (len - 1) ordered pairs of a list, given the
// rows of unit vectors of its items ([len, dim]); 0 below two items.
double intra_list_diversity(const at::Tensor& unit_rows);

}  // namespace halorec::metrics

#pragma once
// Full-ranking evaluation: every test user's scores over ALL items, with the
// user's train items excluded; Recall@K, NDCG@K (ideal DCG over
// min(|test|, K) hits, as the LightGCN reference), Precision@K and HitRate@K,
// averaged over users with test items. Each rank scores its own users
// against all item vectors, which are all-gathered (docs/architecture.md).

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "partition/shard.h"

namespace halorec::train {

struct EvalResult {
  std::map<std::string, double> metrics;  // "recall@20" -> value
  int64_t users = 0;                      // users with test items, over all ranks
  double seconds = 0;
};

class Evaluator {
 public:
  Evaluator(const partition::Shard& shard, std::vector<int64_t> topk, int64_t batch_users);
  // Collective. `final_owned`: final vectors of the shard's owned rows.
  EvalResult evaluate(const at::Tensor& final_owned, comm::Communicator& comm) const;

 private:
  const partition::Shard& shard_;
  std::vector<int64_t> topk_;
  int64_t batch_users_;
  std::vector<int64_t> test_users_;       // local rows of owned users with test items
  std::vector<int64_t> test_begin_;       // their test items: shard.test.item[b[k]..b[k+1])
  std::vector<int64_t> train_begin_, train_end_;  // their train items in shard.train
  std::vector<int64_t> item_rows_;        // local rows of owned items
  std::vector<int64_t> item_ids_;         // their item ids
};

// Metrics of one ranked list against a sorted set of relevant items; adds to
// sums[4 * k + m] for cut-off k (m: recall, ndcg, precision, hitrate).
void add_ranking_metrics(const int64_t* ranked, int64_t ranked_len, const int64_t* relevant_begin,
                         const int64_t* relevant_end, const std::vector<int64_t>& topk,
                         double* sums);

}  // namespace halorec::train

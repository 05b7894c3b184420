#pragma once
// Full-ranking evaluation: every test user's scores over ALL items, with the
// user's train items excluded; Recall@K, NDCG@K (ideal DCG over
// min(|test|, K) hits, as the LightGCN reference), Precision@K and HitRate@K,
// averaged over users with test items. Item vectors are either all-gathered
// (each rank scores its own users against all items) or stay with their
// owners (each rank scores every rank's user block against its own items and
// returns a local top-K that the user's owner merges): docs/architecture.md.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "partition/shard.h"
#include "train/config.h"

namespace halorec::train {

struct EvalResult {
  std::map<std::string, double> metrics;  // "recall@20" -> value
  int64_t users = 0;                      // users with test items, over all ranks
  double seconds = 0;
};


// Validation metrics go by the test metric's name after this prefix
// (metrics.jsonl: "val_recall@20" beside "recall@20").
inline constexpr const char* kValidationPrefix = "val_";

// Which held-out records an Evaluator ranks against. Test ranking masks every
// interaction the dataset's train side has (the shard's train and any
// validation carve); validation ranking masks the train records left after
// the carve.
enum class EvalSplit { kTest, kValidation };

class Evaluator {
 public:
  // `user_fraction` < 1 evaluates a sample of the test users (eval.users):
  // user u takes part iff a hash of u alone falls below the fraction, so the
  // sample does not depend on the partition, the seed or the command.
  Evaluator(const partition::Shard& shard, std::vector<int64_t> topk, int64_t batch_users,
            double user_fraction = 1.0, ItemPlacement items = ItemPlacement::kAuto,
            EvalSplit split = EvalSplit::kTest);
  // Collective. `final_owned`: final vectors of the shard's owned rows.
  EvalResult evaluate(const at::Tensor& final_owned, comm::Communicator& comm) const;
  // The placement evaluate() uses for vectors of `dim` floats (collective
  // only in that every rank gets the same answer: it reads no rank state).
  bool sharded(int64_t dim, int ranks) const;

  // Scores of the test users test_user_ids()[b..e) over all items: [e - b,
  // num_items], float. Every rank calls it the same number of times (with
  // b == e once its users are done), so it may itself be collective.
  using ScoreFn = std::function<at::Tensor(int64_t b, int64_t e)>;
  // Collective: the same metrics as evaluate() for scores that do not come
  // from vectors (baselines), plus coverage@k (distinct items in the top-k
  // lists of all test users / items) when `coverage`.
  EvalResult evaluate_scores(const ScoreFn& score, comm::Communicator& comm,
                             bool coverage = true) const;
  // Collective: evaluate_scores for `count` scorings of the same blocks at
  // once: `prepare(b, e)` is called once per block (every rank as often, so
  // it may be collective), then `scoring(g)` for g = 0 .. count - 1 gives
  // the block's scores [e - b, I] under scoring g.
  std::vector<EvalResult> evaluate_many(const std::function<void(int64_t, int64_t)>& prepare,
                                        const std::function<at::Tensor(size_t)>& scoring,
                                        size_t count, comm::Communicator& comm,
                                        bool coverage = false) const;
  // evaluate_scores and evaluate_many log their progress on rank 0 as
  // "`what`: k of n test users" when scoring takes more than a few seconds
  // (baselines, hybrids; training's own evaluation stays quiet).
  void report_progress(std::string what) { progress_ = std::move(what); }
  // Global ids of this rank's users with test items, in evaluation order.
  std::vector<int64_t> test_user_ids() const;

 private:
  const partition::Shard& shard_;
  const data::Interactions& target_;              // shard.test or shard.validation
  const data::Interactions* extra_seen_;          // shard.validation when ranking test
  std::vector<int64_t> topk_;
  int64_t batch_users_;
  std::vector<int64_t> test_users_;               // local rows of owned users with test items
  std::vector<int64_t> test_begin_, test_end_;    // their held-out items in target_
  std::vector<int64_t> train_begin_, train_end_;  // their train items in shard.train
  std::vector<int64_t> extra_begin_, extra_end_;  // and in *extra_seen_ (masked too)
  std::vector<int64_t> item_rows_;                // local rows of owned items
  std::vector<int64_t> item_ids_;                 // their item ids (ascending)
  ItemPlacement items_;
  std::string progress_;

  EvalResult evaluate_replicated(const at::Tensor& final_owned, comm::Communicator& comm) const;
  EvalResult evaluate_sharded(const at::Tensor& final_owned, comm::Communicator& comm) const;
  // Appends the items user k (an index into test_users_) has seen.
  void append_seen(int64_t k, std::vector<int64_t>* items) const;
  // Rounds of user blocks every rank runs: the most any rank needs.
  int64_t rounds(comm::Communicator& comm) const;

  // Masks the train items of users b..e in `scores`, ranks, adds the metrics
  // of each user to `sums` and marks the items of each top-k list in `hits`
  // ([topk.size(), num_items]) when given.
  void rank_block(at::Tensor scores, int64_t b, int64_t e, int64_t max_k, double* sums,
                  uint8_t* hits) const;
  EvalResult finish(std::vector<double> sums, int64_t n_users, comm::Communicator& comm,
                    at::Tensor hits) const;
};

// Collective: the fraction of test (validation) users to evaluate for about
// `users` of them (eval.users; 0: all), from the number of users with
// records in that split.
double eval_user_fraction(const partition::Shard& shard, int64_t users, comm::Communicator& comm,
                          EvalSplit split = EvalSplit::kTest);

}  // namespace halorec::train

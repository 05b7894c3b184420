#include "train/evaluator.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "core/check.h"
#include "core/counter_rng.h"
#include "core/progress.h"
#include "core/resources.h"
#include "metrics/ranking.h"

namespace halorec::train {

namespace {

bool user_sampled(int64_t user, double fraction) {
  if (fraction >= 1) return true;
  CounterRng rng(hash_key(0x4556414cu, static_cast<uint64_t>(user)));
  return rng.uniform() < fraction;
}

}  // namespace

double eval_user_fraction(const partition::Shard& shard, int64_t users, comm::Communicator& comm,
                          EvalSplit split) {
  if (users <= 0) return 1.0;
  const auto& tu = split == EvalSplit::kTest ? shard.test.user : shard.validation.user;
  int64_t mine = 0;
  for (size_t r = 0; r < tu.size(); ++r) mine += (r == 0 || tu[r] != tu[r - 1]) ? 1 : 0;
  at::Tensor total = at::tensor({static_cast<double>(mine)}, at::kDouble).to(comm.device());
  comm.all_reduce(total, comm::ReduceOp::kSum);
  const double all = total.cpu().item<double>();
  return all <= static_cast<double>(users) ? 1.0 : static_cast<double>(users) / all;
}

Evaluator::Evaluator(const partition::Shard& shard, std::vector<int64_t> topk, int64_t batch_users,
                     double user_fraction, ItemPlacement items, EvalSplit split)
    : shard_(shard),
      target_(split == EvalSplit::kTest ? shard.test : shard.validation),
      extra_seen_(split == EvalSplit::kTest && shard.validation.size() > 0 ? &shard.validation
                                                                           : nullptr),
      topk_(std::move(topk)),
      // A block's scores stay under 256 MiB however many items there are.
      batch_users_(std::min(
          batch_users,
          std::max<int64_t>(1, (int64_t{1} << 26) / std::max<int64_t>(1, shard.num_items)))),
      items_(items) {
  const auto& tu = target_.user;
  const auto& ru = shard.train.user;
  for (size_t r = 0; r < tu.size(); ++r) {
    if (r > 0 && tu[r] == tu[r - 1]) continue;
    const int64_t u = tu[r];
    if (!user_sampled(u, user_fraction)) continue;
    const auto row = std::lower_bound(shard.owned.begin(), shard.owned.end(), u);
    test_users_.push_back(row - shard.owned.begin());
    test_begin_.push_back(static_cast<int64_t>(r));
    test_end_.push_back(std::upper_bound(tu.begin() + static_cast<int64_t>(r), tu.end(), u) -
                        tu.begin());
    train_begin_.push_back(std::lower_bound(ru.begin(), ru.end(), u) - ru.begin());
    train_end_.push_back(std::upper_bound(ru.begin(), ru.end(), u) - ru.begin());
    if (extra_seen_ != nullptr) {
      const auto& xu = extra_seen_->user;
      extra_begin_.push_back(std::lower_bound(xu.begin(), xu.end(), u) - xu.begin());
      extra_end_.push_back(std::upper_bound(xu.begin(), xu.end(), u) - xu.begin());
    }
  }
  for (int64_t k = 0; k < shard.num_owned(); ++k) {
    if (shard.owned[k] >= shard.num_users) {
      item_rows_.push_back(k);
      item_ids_.push_back(shard.owned[k] - shard.num_users);
    }
  }
}

bool Evaluator::sharded(int64_t dim, int ranks) const {
  switch (items_) {
    case ItemPlacement::kReplicated: return false;
    case ItemPlacement::kSharded: return true;
    case ItemPlacement::kAuto: break;
  }
  return ranks > 1 && shard_.num_items * dim * 4 > (int64_t{128} << 20);
}

EvalResult Evaluator::evaluate(const at::Tensor& final_owned, comm::Communicator& comm) const {
  return sharded(final_owned.size(1), comm.size()) ? evaluate_sharded(final_owned, comm)
                                                   : evaluate_replicated(final_owned, comm);
}

int64_t Evaluator::rounds(comm::Communicator& comm) const {
  const auto n_users = static_cast<int64_t>(test_users_.size());
  at::Tensor r = at::tensor({(n_users + batch_users_ - 1) / batch_users_}, at::kLong).to(comm.device());
  comm.all_reduce(r, comm::ReduceOp::kMax);
  return r.cpu().item<int64_t>();
}

EvalResult Evaluator::evaluate_sharded(const at::Tensor& final_owned,
                                       comm::Communicator& comm) const {
  Stopwatch watch;
  at::NoGradGuard no_grad;
  const at::Device dev = comm.device();
  const at::Device here = final_owned.device();
  const int P = comm.size();
  const int64_t I = shard_.num_items;
  const int64_t max_k = std::min<int64_t>(*std::max_element(topk_.begin(), topk_.end()), I);
  const auto n_mine = static_cast<int64_t>(item_ids_.size());
  const at::Tensor my_items_t =
      final_owned.index_select(0, at::tensor(item_rows_, at::kLong).to(here)).t().contiguous();
  const at::Tensor my_item_ids = at::tensor(item_ids_, at::kLong).to(here);
  const int64_t local_k = std::min(max_k, n_mine);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const auto n_users = static_cast<int64_t>(test_users_.size());
  const at::Tensor user_rows = at::tensor(test_users_, at::kLong).to(here);
  std::vector<double> sums(metrics::kPerList * topk_.size(), 0.0);
  const int64_t n_rounds = rounds(comm);
  for (int64_t t = 0; t < n_rounds; ++t) {
    const int64_t b = std::min(n_users, t * batch_users_);
    const int64_t e = std::min(n_users, b + batch_users_);
    // Every rank's user block and the train items to mask for each user.
    std::vector<int64_t> seen_len, seen;
    for (int64_t k = b; k < e; ++k) {
      const size_t before = seen.size();
      append_seen(k, &seen);
      seen_len.push_back(static_cast<int64_t>(seen.size() - before));
    }
    std::vector<int64_t> block_counts;
    const at::Tensor users =
        comm.all_gather_v(final_owned.index_select(0, user_rows.slice(0, b, e)).to(dev),
                          &block_counts)
            .to(here);
    const at::Tensor all_len = comm.all_gather_v(at::tensor(seen_len, at::kLong).to(dev)).cpu();
    const at::Tensor all_seen = comm.all_gather_v(at::tensor(seen, at::kLong).to(dev)).cpu();
    const int64_t n_block = users.size(0);
    // Local top-K of every block user over this rank's items, the user's own
    // train items masked; rows without enough items are padded (-inf, -1).
    at::Tensor values = at::full({n_block, max_k}, neg_inf, final_owned.options().dtype(at::kFloat));
    at::Tensor ids = at::full({n_block, max_k}, -1, at::TensorOptions().dtype(at::kLong).device(here));
    if (n_block > 0 && local_k > 0) {
      at::Tensor scores = at::mm(users, my_items_t);
      if (scores.scalar_type() != at::kFloat) scores = scores.to(at::kFloat);
      std::vector<int64_t> mask;
      const int64_t* lp = all_len.data_ptr<int64_t>();
      const int64_t* sp = all_seen.data_ptr<int64_t>();
      for (int64_t j = 0, off = 0; j < n_block; off += lp[j], ++j) {
        for (int64_t x = off; x < off + lp[j]; ++x) {
          const auto it = std::lower_bound(item_ids_.begin(), item_ids_.end(), sp[x]);
          if (it != item_ids_.end() && *it == sp[x]) mask.push_back(j * n_mine + (it - item_ids_.begin()));
        }
      }
      scores.view({-1}).index_fill_(0, at::tensor(mask, at::kLong).to(here), neg_inf);
      auto [v, col] = at::topk(scores, local_k, 1, true, true);
      values.slice(1, 0, local_k).copy_(v);
      ids.slice(1, 0, local_k).copy_(my_item_ids.index_select(0, col.reshape({-1})).view(col.sizes()));
    }
    // Each user's P candidate lists go back to the user's owner, which keeps
    // the best max_k of the P x max_k.
    const at::Tensor got_v = comm.all_to_all_v(values.to(dev), block_counts,
                                               std::vector<int64_t>(P, e - b)).to(here);
    const at::Tensor got_i = comm.all_to_all_v(ids.to(dev), block_counts,
                                               std::vector<int64_t>(P, e - b)).to(here);
    if (e == b) continue;
    // [P, n, K] -> [n, P * K]
    const at::Tensor cand_v = got_v.view({P, e - b, max_k}).permute({1, 0, 2}).reshape({e - b, -1});
    const at::Tensor cand_i = got_i.view({P, e - b, max_k}).permute({1, 0, 2}).reshape({e - b, -1});
    const at::Tensor pick = std::get<1>(at::topk(cand_v, max_k, 1, true, true));
    const at::Tensor top = cand_i.gather(1, pick).to(at::kCPU).contiguous();
    const int64_t* tp = top.data_ptr<int64_t>();
    for (int64_t k = b; k < e; ++k) {
      metrics::add_ranking_metrics(tp + (k - b) * max_k, max_k, target_.item.data() + test_begin_[k],
                                   target_.item.data() + test_end_[k], topk_, sums.data());
    }
  }
  EvalResult r = finish(std::move(sums), n_users, comm, at::Tensor());
  r.seconds = watch.seconds();
  return r;
}

EvalResult Evaluator::evaluate_replicated(const at::Tensor& final_owned,
                                          comm::Communicator& comm) const {
  Stopwatch watch;
  at::NoGradGuard no_grad;
  const at::Device dev = comm.device();
  // All item vectors, in item id order.
  const at::Tensor rows = at::tensor(item_rows_, at::kLong).to(final_owned.device());
  const at::Tensor my_items = final_owned.index_select(0, rows).contiguous();
  const at::Tensor all_ids =
      comm.all_gather_v(at::tensor(item_ids_, at::kLong).to(dev)).to(final_owned.device());
  const at::Tensor all_vecs = comm.all_gather_v(my_items.to(dev)).to(final_owned.device());
  at::Tensor items = at::zeros({shard_.num_items, final_owned.size(1)}, final_owned.options());
  items.index_copy_(0, all_ids, all_vecs);
  const at::Tensor items_t = items.t();

  const int64_t max_k =
      std::min<int64_t>(*std::max_element(topk_.begin(), topk_.end()), shard_.num_items);
  std::vector<double> sums(metrics::kPerList * topk_.size(), 0.0);
  const int64_t n_users = static_cast<int64_t>(test_users_.size());
  const at::Tensor user_rows = at::tensor(test_users_, at::kLong).to(final_owned.device());
  for (int64_t b = 0; b < n_users; b += batch_users_) {
    const int64_t e = std::min(n_users, b + batch_users_);
    // Scores, masking and selection stay on the rank's device; only the
    // top-K indices come back to the host.
    at::Tensor scores = at::mm(final_owned.index_select(0, user_rows.slice(0, b, e)), items_t);
    rank_block(scores, b, e, max_k, sums.data(), nullptr);
  }
  EvalResult r = finish(std::move(sums), n_users, comm, at::Tensor());
  r.seconds = watch.seconds();
  return r;
}

void Evaluator::append_seen(int64_t k, std::vector<int64_t>* items) const {
  const auto ku = static_cast<size_t>(k);
  items->insert(items->end(), shard_.train.item.begin() + train_begin_[ku],
                shard_.train.item.begin() + train_end_[ku]);
  if (extra_seen_ != nullptr) {
    items->insert(items->end(), extra_seen_->item.begin() + extra_begin_[ku],
                  extra_seen_->item.begin() + extra_end_[ku]);
  }
}

std::vector<int64_t> Evaluator::test_user_ids() const {
  std::vector<int64_t> ids;
  ids.reserve(test_users_.size());
  for (int64_t row : test_users_) ids.push_back(shard_.owned[static_cast<size_t>(row)]);
  return ids;
}

void Evaluator::rank_block(at::Tensor scores, int64_t b, int64_t e, int64_t max_k, double* sums,
                           uint8_t* hits) const {
  const int64_t I = shard_.num_items;
  HR_CHECK(scores.dim() == 2 && scores.size(0) == e - b && scores.size(1) == I,
           "scores of a block must be [{}, {}]", e - b, I);
  std::vector<int64_t> seen, items;
  for (int64_t k = b; k < e; ++k) {
    items.clear();
    append_seen(k, &items);
    for (int64_t i : items) seen.push_back((k - b) * I + i);
  }
  const at::Tensor top = metrics::masked_topk(std::move(scores), seen, max_k);
  const int64_t* tp = top.data_ptr<int64_t>();
  for (int64_t k = b; k < e; ++k) {
    const int64_t* ranked = tp + (k - b) * max_k;
    metrics::add_ranking_metrics(ranked, max_k, target_.item.data() + test_begin_[k],
                                 target_.item.data() + test_end_[k], topk_, sums);
    if (hits != nullptr) metrics::mark_listed(ranked, max_k, topk_, I, hits);
  }
}

EvalResult Evaluator::finish(std::vector<double> sums, int64_t n_users, comm::Communicator& comm,
                             at::Tensor hits) const {
  const size_t n_sums = sums.size();
  sums.push_back(static_cast<double>(n_users));
  at::Tensor totals = at::tensor(sums, at::kDouble).to(comm.device());
  comm.all_reduce(totals, comm::ReduceOp::kSum);
  totals = totals.cpu();
  const double* tp = totals.data_ptr<double>();
  EvalResult r;
  r.users = static_cast<int64_t>(tp[n_sums]);
  r.metrics = metrics::means(std::vector<double>(tp, tp + n_sums), static_cast<double>(r.users),
                             topk_);
  if (hits.defined()) {
    // Items in any rank's lists: the maximum over ranks of each flag.
    at::Tensor any = hits.to(at::kFloat).to(comm.device());
    comm.all_reduce(any, comm::ReduceOp::kMax);
    const at::Tensor flags = any.cpu().to(at::kByte).contiguous();
    const std::vector<double> cov =
        metrics::coverage(flags.data_ptr<uint8_t>(), topk_, shard_.num_items);
    for (size_t c = 0; c < topk_.size(); ++c) {
      r.metrics["coverage@" + std::to_string(topk_[c])] = cov[c];
    }
  }
  return r;
}

EvalResult Evaluator::evaluate_scores(const ScoreFn& score, comm::Communicator& comm,
                                      bool coverage) const {
  at::Tensor block;
  return evaluate_many([&](int64_t b, int64_t e) { block = score(b, e); },
                       [&](size_t) { return block; }, 1, comm, coverage)
      .front();
}

std::vector<EvalResult> Evaluator::evaluate_many(
    const std::function<void(int64_t, int64_t)>& prepare,
    const std::function<at::Tensor(size_t)>& scoring, size_t count, comm::Communicator& comm,
    bool coverage) const {
  Stopwatch watch;
  at::NoGradGuard no_grad;
  const int64_t max_k =
      std::min<int64_t>(*std::max_element(topk_.begin(), topk_.end()), shard_.num_items);
  const int64_t n_users = static_cast<int64_t>(test_users_.size());
  const int64_t n_rounds = rounds(comm);
  std::vector<std::vector<double>> sums(count,
                                        std::vector<double>(metrics::kPerList * topk_.size(), 0.0));
  std::vector<at::Tensor> hits(count);
  if (coverage) {
    for (at::Tensor& h : hits) {
      h = at::zeros({static_cast<int64_t>(topk_.size()), shard_.num_items}, at::kByte);
    }
  }
  std::optional<Progress> progress;
  if (!progress_.empty() && comm.rank() == 0) {
    progress.emplace(progress_, comm.size() > 1 ? "test users of rank 0" : "test users", n_users);
  }
  for (int64_t t = 0; t < n_rounds; ++t) {
    const int64_t b = std::min(n_users, t * batch_users_);
    const int64_t e = std::min(n_users, b + batch_users_);
    if (progress) progress->at(b);
    prepare(b, e);
    if (e == b) continue;
    for (size_t g = 0; g < count; ++g) {
      rank_block(scoring(g), b, e, max_k, sums[g].data(),
                 coverage ? hits[g].data_ptr<uint8_t>() : nullptr);
    }
  }
  std::vector<EvalResult> out;
  for (size_t g = 0; g < count; ++g) {
    out.push_back(finish(std::move(sums[g]), n_users, comm, hits[g]));
    out.back().seconds = watch.seconds();
  }
  return out;
}

}  // namespace halorec::train

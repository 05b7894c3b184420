#include "serve/evaluate.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "core/check.h"
#include "metrics/ranking.h"
#include "serve/alignment.h"
#include "serve/engine.h"
#include "serve/filter_scoring.h"

namespace halorec::serve {

namespace {

void check_topk(const std::vector<int64_t>& topk) {
  if (topk.empty()) HR_THROW(UsageError, "--k: give at least one cut-off");
  for (int64_t k : topk) {
    if (k < 1 || k > 10000) HR_THROW(UsageError, "--k must be in 1..10000, got {}", k);
  }
}

}  // namespace

std::map<std::string, double> evaluate_model(const ModelFile& m, const data::Dataset& d,
                                             const std::vector<int64_t>& topk) {
  check_topk(topk);
  check_model_dataset(m, d);
  const int64_t U = d.num_users();
  const int64_t I = d.num_items();  // cold-start entries are left out
  const Seen test = by_user(d.test, U);
  const Seen train = by_user(d.train, U);
  std::vector<int64_t> users;
  for (int64_t u = 0; u < U; ++u) {
    if (test.end(u) > test.begin(u)) {
      users.push_back(u);
    }
  }
  const at::Tensor user_vectors =
      at::from_blob(const_cast<float*>(m.user_vectors.data()), {U, m.dim}, at::kFloat);
  const at::Tensor items_t =
      at::from_blob(const_cast<float*>(m.item_vectors.data()), {I, m.dim}, at::kFloat).t();
  std::unique_ptr<FilterScorer> filter;
  if (m.is_filter()) filter = std::make_unique<FilterScorer>(m);
  const int64_t max_k = std::min<int64_t>(*std::max_element(topk.begin(), topk.end()), I);
  // Blocks of users as training's evaluator: their scores stay under 256 MiB.
  const int64_t block =
      std::min<int64_t>(1024, std::max<int64_t>(1, (int64_t{1} << 26) / std::max<int64_t>(1, I)));
  std::vector<double> sums(metrics::kPerList * topk.size(), 0.0);
  const int64_t n = static_cast<int64_t>(users.size());
  for (int64_t b = 0; b < n; b += block) {
    const int64_t e = std::min(n, b + block);
    const std::vector<int64_t> rows(users.begin() + b, users.begin() + e);
    std::vector<int64_t> seen;
    for (int64_t q = b; q < e; ++q) {
      const int64_t u = users[static_cast<size_t>(q)];
      for (const int64_t* it = train.begin(u); it != train.end(u); ++it) {
        seen.push_back((q - b) * I + *it);
      }
    }
    const at::Tensor scores =
        filter ? filter->user_scores(rows)
               : at::mm(user_vectors.index_select(0, at::tensor(rows, at::kLong)), items_t);
    const at::Tensor top = metrics::masked_topk(scores, seen, max_k);
    const int64_t* tp = top.data_ptr<int64_t>();
    for (int64_t q = b; q < e; ++q) {
      const int64_t u = users[static_cast<size_t>(q)];
      metrics::add_ranking_metrics(tp + (q - b) * max_k, max_k, test.begin(u), test.end(u), topk,
                                   sums.data());
    }
  }
  return metrics::means(sums, static_cast<double>(n), topk);
}

std::map<std::string, double> evaluate_cold(const ModelFile& m, const data::Dataset& d,
                                            const std::vector<int64_t>& topk) {
  check_topk(topk);
  const auto C = static_cast<int64_t>(d.cold_item_ids.size());
  if (C == 0) return {};
  check_model_dataset(m, d);
  const int64_t U = d.num_users();
  // The model's row of each cold item (-1: none).
  std::unordered_map<std::string, int64_t> row_of;
  for (size_t r = static_cast<size_t>(d.num_items()); r < m.item_ids.size(); ++r) {
    row_of.emplace(m.item_ids[r], static_cast<int64_t>(r));
  }
  std::vector<int64_t> have, rows;  // cold index, model row
  for (int64_t c = 0; c < C; ++c) {
    const auto it = row_of.find(d.cold_item_ids[static_cast<size_t>(c)]);
    if (it != row_of.end()) {
      have.push_back(c);
      rows.push_back(it->second);
    }
  }
  if (have.empty()) return {};
  const Seen test = by_user(d.cold_test, U);
  std::vector<int64_t> users;
  for (int64_t u = 0; u < U; ++u) {
    if (test.count(u) > 0) users.push_back(u);
  }
  const auto H = static_cast<int64_t>(have.size());
  const int64_t max_k = std::min<int64_t>(*std::max_element(topk.begin(), topk.end()), H);
  const at::Tensor user_vectors =
      at::from_blob(const_cast<float*>(m.user_vectors.data()), {U, m.dim}, at::kFloat);
  const at::Tensor cold_t =
      at::from_blob(const_cast<float*>(m.item_vectors.data()),
                    {static_cast<int64_t>(m.item_ids.size()), m.dim}, at::kFloat)
          .index_select(0, at::tensor(rows, at::kLong))
          .t()
          .contiguous();
  std::vector<double> sums(metrics::kPerList * topk.size(), 0.0);
  const int64_t n = static_cast<int64_t>(users.size());
  const int64_t block = std::min<int64_t>(1024, std::max<int64_t>(1, (int64_t{1} << 26) / H));
  std::vector<int64_t> ranked(static_cast<size_t>(max_k));
  for (int64_t b = 0; b < n; b += block) {
    const int64_t e = std::min(n, b + block);
    const std::vector<int64_t> sel(users.begin() + b, users.begin() + e);
    const at::Tensor scores = at::mm(user_vectors.index_select(0, at::tensor(sel, at::kLong)), cold_t);
    const at::Tensor top = metrics::masked_topk(scores, {}, max_k);
    const int64_t* tp = top.data_ptr<int64_t>();
    for (int64_t q = b; q < e; ++q) {
      const int64_t u = users[static_cast<size_t>(q)];
      for (int64_t j = 0; j < max_k; ++j) {
        ranked[static_cast<size_t>(j)] = have[static_cast<size_t>(tp[(q - b) * max_k + j])];
      }
      metrics::add_ranking_metrics(ranked.data(), max_k, test.begin(u), test.end(u), topk,
                                   sums.data());
    }
  }
  std::map<std::string, double> out;
  for (const auto& [name, value] : metrics::means(sums, static_cast<double>(n), topk)) {
    out["cold/" + name] = value;
  }
  // The baselines, over the same users and the same rankable items.
  std::vector<int64_t> holders(static_cast<size_t>(C), 0);
  for (const int64_t c : d.cold_test.item) ++holders[static_cast<size_t>(c)];
  std::vector<int64_t> by_popularity = have;  // most users first, then by index
  std::stable_sort(by_popularity.begin(), by_popularity.end(), [&](int64_t a, int64_t b) {
    return holders[static_cast<size_t>(a)] > holders[static_cast<size_t>(b)];
  });
  std::vector<uint8_t> rankable(static_cast<size_t>(C), 0);
  for (const int64_t c : have) rankable[static_cast<size_t>(c)] = 1;
  for (const int64_t k : topk) {
    double pop = 0, random = 0;
    const int64_t kk = std::min(k, H);
    for (const int64_t u : users) {
      const int64_t relevant = test.count(u);
      const std::unordered_set<int64_t> own(test.begin(u), test.end(u));
      // Leave-one-out popularity: the user's own records do not count, so
      // each of their items loses one holder. The new top kk lies within the
      // old first kk + |own| (at most |own| items can fall behind any other).
      const size_t reach = std::min(by_popularity.size(), static_cast<size_t>(kk) + own.size());
      std::vector<std::pair<int64_t, size_t>> cand;  // (-holders, old place)
      for (size_t r = 0; r < reach; ++r) {
        const int64_t c = by_popularity[r];
        cand.emplace_back(-(holders[static_cast<size_t>(c)] - (own.count(c) ? 1 : 0)), r);
      }
      std::sort(cand.begin(), cand.end());
      int64_t hits = 0;
      for (size_t r = 0; r < cand.size() && static_cast<int64_t>(r) < kk; ++r) {
        hits += own.count(by_popularity[cand[r].second]) ? 1 : 0;
      }
      pop += static_cast<double>(hits) / static_cast<double>(relevant);
      // A uniform order over the H rankable items: E[hits] = kk * (own rankable) / H.
      int64_t own_rankable = 0;
      for (const int64_t c : own) own_rankable += rankable[static_cast<size_t>(c)];
      random += static_cast<double>(kk) * static_cast<double>(own_rankable) /
                (static_cast<double>(H) * static_cast<double>(relevant));
    }
    out["cold/popularity_recall@" + std::to_string(k)] = pop / static_cast<double>(n);
    out["cold/random_recall@" + std::to_string(k)] = random / static_cast<double>(n);
  }
  out["cold/users"] = static_cast<double>(n);
  out["cold/items"] = static_cast<double>(C);
  out["cold/items_without_vector"] = static_cast<double>(C - H);
  return out;
}

std::map<std::string, double> evaluate_strategy(const ModelFile& m, const data::Dataset& d,
                                                const std::vector<int64_t>& topk,
                                                RecommendOptions o) {
  check_topk(topk);
  const int64_t U = d.num_users();
  const int64_t I = static_cast<int64_t>(m.item_ids.size());  // with cold-start items
  o.k = *std::max_element(topk.begin(), topk.end());
  o.seen = &d;
  const auto engine = make_engine(m, o);
  // Test items per user (prepare merges repeated pairs: each once), and
  // train popularity.
  const Seen test = by_user(d.test, U);
  std::vector<int64_t> users;
  for (int64_t u = 0; u < U; ++u) {
    if (test.count(u) > 0) users.push_back(u);
  }
  // Users per item in train (prepare merges repeated pairs: one each).
  std::vector<int64_t> item_users(static_cast<size_t>(I), 0);
  for (int64_t item : engine->seen.items) ++item_users[static_cast<size_t>(item)];
  const auto lists = rank_lists(*engine, users);
  const Views& v = engine->views;
  std::map<std::string, double> out;
  const double n = static_cast<double>(users.size());
  for (int64_t k : topk) {
    double recall = 0, ndcg = 0, precision = 0, hitrate = 0, ild = 0, novelty = 0;
    std::vector<uint8_t> listed(static_cast<size_t>(I), 0);
    for (size_t q = 0; q < users.size(); ++q) {
      const int64_t u = users[q];
      const int64_t len = std::min<int64_t>(k, static_cast<int64_t>(lists[q].size()));
      std::vector<double> sums(metrics::kPerList, 0.0);
      metrics::add_ranking_metrics(lists[q].data(), len, test.begin(u), test.end(u), {k},
                                   sums.data());
      recall += sums[0];
      ndcg += sums[1];
      precision += sums[2];
      hitrate += sums[3];
      metrics::mark_listed(lists[q].data(), len, {k}, I, listed.data());
      novelty += metrics::novelty(lists[q].data(), len, item_users, U);
      if (len > 1) {
        const std::vector<int64_t> head(lists[q].begin(), lists[q].begin() + len);
        ild += metrics::intra_list_diversity(
            v.items_unit.index_select(0, at::tensor(head, at::kLong)));
      }
    }
    const std::string at_k = "@" + std::to_string(k);
    out["recall" + at_k] = recall / n;
    out["ndcg" + at_k] = ndcg / n;
    out["precision" + at_k] = precision / n;
    out["hitrate" + at_k] = hitrate / n;
    out["coverage" + at_k] = metrics::coverage(listed.data(), {k}, I)[0];
    out["ild" + at_k] = ild / n;
    out["novelty" + at_k] = novelty / n;
  }
  return out;
}

}  // namespace halorec::serve

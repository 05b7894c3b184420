#include "serve/engine.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <memory>

#include "core/check.h"
#include "serve/alignment.h"
#include "serve/strategies.h"

namespace halorec::serve {

namespace {

void check_options(const ModelFile& m, const RecommendOptions& o) {
  // Bounded: a block of queries holds k scores each.
  if (o.k < 1 || o.k > 100000) HR_THROW(UsageError, "--k must be in 1..100000, got {}", o.k);
  if (!(o.diversity >= 0.0 && o.diversity <= 1.0)) {
    HR_THROW(UsageError, "--diversity must be in [0, 1], got {}", o.diversity);
  }
  if (o.candidates < 1 || o.candidates > 100000) {
    HR_THROW(UsageError, "--candidates must be in 1..100000, got {}", o.candidates);
  }
  if (!(o.steer >= 0 && o.steer <= 1e6)) {
    HR_THROW(UsageError, "--steer must be in [0, 1e6], got {}", o.steer);
  }
  if (m.is_filter() && o.strategy == Strategy::kMulti) {
    HR_THROW(UsageError,
             "--strategy multi ranks by interest vectors; a graph filter's model "
             "({}) ranks by its filter: use single or mmr",
             m.filter.kind);
  }
  if (m.is_filter() && o.index != nullptr) {
    HR_THROW(UsageError,
             "--index: a graph filter's model ({}) scores every item through its "
             "filter, not by vectors an index could search",
             m.filter.kind);
  }
  if (o.strategy == Strategy::kMulti && m.interests.empty()) {
    HR_THROW(UsageError, "--strategy multi needs a model exported with --interests");
  }
}

}  // namespace

std::unique_ptr<Engine> make_engine(const ModelFile& m, const RecommendOptions& o) {
  check_options(m, o);
  if (o.seen != nullptr) check_model_dataset(m, *o.seen);
  auto e = std::make_unique<Engine>(Engine{m, o, {}, views_of(m), {}, nullptr});
  if (o.seen != nullptr) e->seen = by_user(o.seen->train, static_cast<int64_t>(m.user_ids.size()));
  e->source.views = &e->views;
  e->source.seen = &e->seen;
  e->source.index = o.index;
  if (m.is_filter()) {
    e->filter = std::make_unique<FilterScorer>(m);
    e->source.filter = e->filter.get();
  }
  if (o.index != nullptr && !m.item_file_row.empty()) {
    e->source.row_of_label.resize(m.item_file_row.size());
    for (size_t r = 0; r < m.item_file_row.size(); ++r) {
      e->source.row_of_label[static_cast<size_t>(m.item_file_row[r])] = static_cast<int64_t>(r);
    }
  }
  return e;
}

std::vector<std::vector<int64_t>> rank_lists(const Engine& engine, const std::vector<int64_t>& rows,
                                             std::vector<std::vector<float>>* scores_out,
                                             std::vector<std::vector<int32_t>>* interest_out) {
  const ModelFile& m = engine.m;
  const RecommendOptions& o = engine.options;
  const Views& v = engine.views;
  const bool multi = o.strategy == Strategy::kMulti;
  const int64_t n = static_cast<int64_t>(rows.size());
  std::vector<std::vector<int64_t>> lists(static_cast<size_t>(n));
  std::vector<std::vector<float>> scores(static_cast<size_t>(n));
  std::vector<std::vector<int32_t>> from(static_cast<size_t>(n));
  const InterestTable& t = m.interests;
  auto has_interests = [&](int64_t u) {
    return !t.empty() &&
           t.user_offsets[static_cast<size_t>(u) + 1] > t.user_offsets[static_cast<size_t>(u)];
  };
  const int64_t pool = o.strategy == Strategy::kMmr ? std::max(o.k, o.candidates) : o.k;
  constexpr int64_t kBlock = 512;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    // Query rows: the user's vector, or (multi) one per interest: the user's
    // vector turned toward the interest's medoid (RecommendOptions::steer).
    std::vector<int64_t> row_user;
    std::vector<int64_t> user_query, item_query;  // rows of users / items used as queries
    std::vector<int64_t> first_row(static_cast<size_t>(e - b) + 1, 0);
    for (int64_t q = b; q < e; ++q) {
      const int64_t u = rows[static_cast<size_t>(q)];
      first_row[static_cast<size_t>(q - b)] = static_cast<int64_t>(row_user.size());
      if (multi && has_interests(u)) {
        for (int64_t j = t.user_offsets[static_cast<size_t>(u)];
             j < t.user_offsets[static_cast<size_t>(u) + 1]; ++j) {
          row_user.push_back(u);
          item_query.push_back(t.medoid[static_cast<size_t>(j)]);
          user_query.push_back(-1);
        }
      } else {
        row_user.push_back(u);
        user_query.push_back(u);
        item_query.push_back(-1);
      }
    }
    first_row[static_cast<size_t>(e - b)] = static_cast<int64_t>(row_user.size());
    const int64_t nq = static_cast<int64_t>(row_user.size());
    at::Tensor queries = at::empty({nq, m.dim}, at::kFloat);
    for (int64_t r = 0; r < nq; ++r) {
      if (user_query[static_cast<size_t>(r)] >= 0) {
        queries[r].copy_(v.users[user_query[static_cast<size_t>(r)]]);
      } else {
        // multi: the user's vector turned toward the interest's medoid.
        const at::Tensor user = v.users[row_user[static_cast<size_t>(r)]];
        queries[r].copy_(user + o.steer * user.norm() *
                                    v.items_unit[item_query[static_cast<size_t>(r)]]);
      }
    }
    std::vector<std::vector<int64_t>> top;
    std::vector<std::vector<float>> top_v;
    best_candidates(engine.source, queries, row_user, pool, &top, &top_v);
    at::parallel_for(b, e, 16, [&](int64_t qb, int64_t qe) {
      for (int64_t q = qb; q < qe; ++q) {
        const int64_t r0 = first_row[static_cast<size_t>(q - b)];
        const int64_t r1 = first_row[static_cast<size_t>(q - b) + 1];
        auto& list = lists[static_cast<size_t>(q)];
        auto& sc = scores[static_cast<size_t>(q)];
        auto& src = from[static_cast<size_t>(q)];
        if (multi && item_query[static_cast<size_t>(r0)] >= 0) {
          const int64_t u = rows[static_cast<size_t>(q)];
          const int64_t j0 = t.user_offsets[static_cast<size_t>(u)];
          const std::vector<float> weights(t.weight.begin() + j0,
                                           t.weight.begin() + j0 + (r1 - r0));
          merge_by_weight(top, top_v, r0, weights, o.k, &list, &sc, &src);
        } else if (o.strategy == Strategy::kMmr) {
          mmr_select(top[static_cast<size_t>(r0)], top_v[static_cast<size_t>(r0)], v.items_unit,
                     o.k, o.diversity, &list, &sc);
        } else {
          list = top[static_cast<size_t>(r0)];
          sc = top_v[static_cast<size_t>(r0)];
        }
      }
    });
  }
  if (scores_out != nullptr) *scores_out = std::move(scores);
  if (interest_out != nullptr) *interest_out = std::move(from);
  return lists;
}

}  // namespace halorec::serve

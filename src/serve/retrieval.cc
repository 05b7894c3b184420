#include "serve/retrieval.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <limits>

#include "core/counting_sort.h"

namespace halorec::serve {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void mask_seen(at::Tensor& scores, const std::vector<int64_t>& row_user, const Seen& seen) {
  if (seen.empty()) return;
  float* sp = scores.data_ptr<float>();
  const int64_t I = scores.size(1);
  for (size_t r = 0; r < row_user.size(); ++r) {
    for (const int64_t* it = seen.begin(row_user[r]); it != seen.end(row_user[r]); ++it) {
      sp[static_cast<int64_t>(r) * I + *it] = kNegInf;
    }
  }
}

// Best `k` of each row of `scores` (-inf entries dropped): (items, scores).
void top_rows(const at::Tensor& scores, int64_t k, std::vector<std::vector<int64_t>>* items,
              std::vector<std::vector<float>>* values) {
  const int64_t kk = std::min(k, scores.size(1));
  const auto [tv, ti] = at::topk(scores, kk, 1, true, true);
  const at::Tensor v = tv.contiguous(), i = ti.contiguous();
  const float* vp = v.data_ptr<float>();
  const int64_t* ip = i.data_ptr<int64_t>();
  for (int64_t r = 0; r < scores.size(0); ++r) {
    std::vector<int64_t> row;
    std::vector<float> val;
    for (int64_t j = 0; j < kk; ++j) {
      if (vp[r * kk + j] == kNegInf) break;
      row.push_back(ip[r * kk + j]);
      val.push_back(vp[r * kk + j]);
    }
    items->push_back(std::move(row));
    values->push_back(std::move(val));
  }
}

void search_index(const CandidateSource& source, const at::Tensor& queries,
                  const std::vector<int64_t>& row_user, int64_t pool,
                  std::vector<std::vector<int64_t>>* items,
                  std::vector<std::vector<float>>* values) {
  const Seen& seen = *source.seen;
  const int64_t I = source.views->items.size(0);
  const int64_t nq = queries.size(0);
  auto seen_count = [&](int64_t r) { return seen.count(row_user[static_cast<size_t>(r)]); };
  std::vector<int64_t> order(static_cast<size_t>(nq));
  for (int64_t r = 0; r < nq; ++r) order[static_cast<size_t>(r)] = r;
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t x, int64_t y) { return seen_count(x) < seen_count(y); });
  items->assign(static_cast<size_t>(nq), {});
  values->assign(static_cast<size_t>(nq), {});
  constexpr int64_t kChunk = 64;
  const float* qp = queries.data_ptr<float>();
  const int64_t dim = queries.size(1);
  for (int64_t c0 = 0; c0 < nq; c0 += kChunk) {
    const int64_t c1 = std::min(nq, c0 + kChunk);
    const int64_t fetch = std::min(I, pool + seen_count(order[static_cast<size_t>(c1 - 1)]));
    std::vector<float> chunk(static_cast<size_t>((c1 - c0) * dim));
    for (int64_t j = c0; j < c1; ++j) {
      std::copy_n(qp + order[static_cast<size_t>(j)] * dim, dim, chunk.begin() + (j - c0) * dim);
    }
    std::vector<int64_t> labels;
    std::vector<float> scores;
    source.index->search(chunk.data(), c1 - c0, fetch, &labels, &scores);
    for (int64_t j = c0; j < c1; ++j) {
      const int64_t r = order[static_cast<size_t>(j)];
      const int64_t u = row_user[static_cast<size_t>(r)];
      auto& row = (*items)[static_cast<size_t>(r)];
      auto& val = (*values)[static_cast<size_t>(r)];
      for (int64_t x = 0; x < fetch && static_cast<int64_t>(row.size()) < pool; ++x) {
        const size_t at_ = static_cast<size_t>((j - c0) * fetch + x);
        int64_t item = labels[at_];
        if (item < 0) break;
        if (!source.row_of_label.empty()) item = source.row_of_label[static_cast<size_t>(item)];
        if (!seen.empty() && std::binary_search(seen.begin(u), seen.end(u), item)) continue;
        row.push_back(item);
        val.push_back(scores[at_]);
      }
    }
  }
}

}  // namespace

Seen by_user(const data::Interactions& x, int64_t num_users) {
  Seen s;
  CountingSort by_user(num_users);
  for (int64_t u : x.user) by_user.count(u);
  by_user.finish_counts();
  s.items.resize(x.size());
  for (size_t t = 0; t < x.size(); ++t) {
    s.items[static_cast<size_t>(by_user.place(x.user[t]))] = x.item[t];
  }
  s.indptr = by_user.take_offsets();
  for (size_t u = 0; u + 1 < s.indptr.size(); ++u) {
    std::sort(s.items.begin() + s.indptr[u], s.items.begin() + s.indptr[u + 1]);
  }
  return s;
}

Views views_of(const ModelFile& m) {
  Views v;
  const int64_t U = static_cast<int64_t>(m.user_ids.size());
  const int64_t I = static_cast<int64_t>(m.item_ids.size());
  v.users = at::from_blob(const_cast<float*>(m.user_vectors.data()), {U, m.dim}, at::kFloat);
  v.items = at::from_blob(const_cast<float*>(m.item_vectors.data()), {I, m.dim}, at::kFloat);
  v.items_unit = v.items / v.items.norm(2, {1}, true).clamp_min(1e-12);
  return v;
}

void best_candidates(const CandidateSource& source, const at::Tensor& queries,
                     const std::vector<int64_t>& row_user, int64_t pool,
                     std::vector<std::vector<int64_t>>* items,
                     std::vector<std::vector<float>>* values) {
  if (source.index != nullptr) {
    search_index(source, queries, row_user, pool, items, values);
    return;
  }
  at::Tensor s = source.filter != nullptr ? source.filter->user_scores(row_user)
                                          : at::mm(queries, source.views->items.t()).contiguous();
  mask_seen(s, row_user, *source.seen);
  top_rows(s, pool, items, values);
}

}  // namespace halorec::serve

#include "serve/fold_in.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>
#include <utility>

#include "core/check.h"
#include "model/graph_filter.h"
#include "serve/engine.h"
#include "serve/filter_scoring.h"

namespace halorec::serve {

namespace {

std::unordered_map<std::string, int64_t> rows_of(const std::vector<std::string>& ids) {
  std::unordered_map<std::string, int64_t> rows;
  for (size_t k = 0; k < ids.size(); ++k) rows.emplace(ids[k], static_cast<int64_t>(k));
  return rows;
}

// Friends fold in only where the model propagated over social edges.
void check_friends(const ModelFile& m, const std::vector<History>& histories) {
  const bool any = std::any_of(histories.begin(), histories.end(),
                               [](const History& h) { return !h.friends.empty(); });
  if (any && m.fold_social_degree.empty()) {
    HR_THROW(UsageError,
             "--friends: the model ({}{}) kept no social fold-in data: friends fold in for a "
             "LightGCN trained with data.social (social_weight > 0), exported from one process "
             "without content features",
             m.model_type, m.is_filter() ? ", a graph filter" : "");
  }
}

// Each history's item rows, ascending, with their weights: an item named n
// times is one edge of weight n (as prepare merges repeated interactions).
// Every fold-in path resolves its histories here, so friends are checked here.
std::vector<std::vector<std::pair<int64_t, double>>> item_rows(
    const ModelFile& m, const std::vector<History>& histories) {
  check_friends(m, histories);
  const auto items = rows_of(m.item_ids);
  std::vector<std::vector<std::pair<int64_t, double>>> out;
  for (const History& h : histories) {
    if (h.items.empty()) HR_THROW(UsageError, "the history of '{}' has no items", h.label);
    std::vector<int64_t> rows;
    for (const std::string& id : h.items) {
      const auto it = items.find(id);
      if (it == items.end()) {
        HR_THROW(InputError, "history of '{}': item '{}' is not in the model", h.label, id);
      }
      rows.push_back(it->second);
    }
    std::sort(rows.begin(), rows.end());
    std::vector<std::pair<int64_t, double>> edges;
    for (int64_t r : rows) {
      if (!edges.empty() && edges.back().first == r) {
        edges.back().second += 1;
      } else {
        edges.emplace_back(r, 1.0);
      }
    }
    out.push_back(std::move(edges));
  }
  return out;
}

}  // namespace

namespace {

// MF: u = argmin sum_H w_i (1 - u.v_i)^2 + a sum_all (u.v_j)^2 + l |u|^2, with
// a = |H| / I (the history and the whole catalogue weigh alike) and l a
// small ridge (1e-3 x the mean diagonal of V'V): one D x D solve per user.
std::vector<float> fold_in_mf(const ModelFile& m,
                              const std::vector<std::vector<std::pair<int64_t, double>>>& rows) {
  const int64_t D = m.dim;
  const int64_t I = static_cast<int64_t>(m.item_ids.size());
  const at::Tensor V =
      at::from_blob(const_cast<float*>(m.item_vectors.data()), {I, D}, at::kFloat).to(at::kDouble);
  const at::Tensor G = at::mm(V.t(), V);
  const double ridge = 1e-3 * G.diagonal().mean().item<double>() + 1e-12;
  std::vector<float> out(rows.size() * static_cast<size_t>(D));
  for (size_t q = 0; q < rows.size(); ++q) {
    std::vector<int64_t> idx;
    std::vector<double> w;
    double total = 0;
    for (const auto& [i, weight] : rows[q]) {
      idx.push_back(i);
      w.push_back(weight);
      total += weight;
    }
    const at::Tensor Vh = V.index_select(0, at::tensor(idx, at::kLong));
    const at::Tensor wt = at::tensor(w, at::kDouble);
    const double a = total / static_cast<double>(I);
    const at::Tensor A =
        at::mm(Vh.t() * wt.unsqueeze(0), Vh) + a * G + ridge * at::eye(D, at::kDouble);
    const at::Tensor b = at::mv(Vh.t(), wt);
    at::Tensor u = at::linalg_solve(A, b.unsqueeze(1)).squeeze(1);
    if (m.score == "cosine") u = u / u.norm().clamp_min(1e-12);
    const at::Tensor uf = u.to(at::kFloat).contiguous();
    std::copy(uf.data_ptr<float>(), uf.data_ptr<float>() + D, out.begin() + q * D);
  }
  return out;
}

using Edges = std::vector<std::vector<std::pair<int64_t, double>>>;

// fold_in() over histories already resolved to (item row, weight) edges.
std::vector<float> fold_in_edges(const ModelFile& m, const std::vector<History>& histories,
                                 const Edges& rows) {
  if (m.model_type == "mf" && m.cold_items + m.cold_users == 0) return fold_in_mf(m, rows);
  if (m.fold_layers < 1) {
    HR_THROW(InputError,
             "the model has no fold-in data: export keeps it for lightgcn models "
             "without content features, from one process; mf folds in from its item vectors "
             "(this one is {}, {} layers{})",
             m.model_type, m.layers, m.cold_items + m.cold_users > 0 ? ", with features" : "");
  }
  if (m.cold_items > 0 ||
      static_cast<int64_t>(m.fold_item_degree.size()) != static_cast<int64_t>(m.item_ids.size())) {
    HR_THROW(InputError, "the model's fold-in data does not cover its items");
  }
  const int64_t D = m.dim;
  const int64_t I = static_cast<int64_t>(m.item_ids.size());
  const int64_t L = m.fold_layers;
  const int64_t U = static_cast<int64_t>(m.user_ids.size());
  const auto users = m.user_id_scheme == "original" ? rows_of(m.user_ids)
                                                    : std::unordered_map<std::string, int64_t>{};
  const auto friend_rows = [&](const History& hist) {
    std::vector<std::pair<int64_t, double>> out;
    if (hist.friends.empty()) return out;
    if (m.user_id_scheme != "original") {
      HR_THROW(UsageError, "--friends: the model's user ids are pseudonyms");
    }
    std::vector<int64_t> friends;
    for (const std::string& id : hist.friends) {
      const auto it = users.find(id);
      if (it == users.end()) {
        HR_THROW(InputError, "friends of '{}': user '{}' is not in the model", hist.label, id);
      }
      if (id == hist.label) {
        HR_THROW(UsageError, "friends of '{}': a user is not their own friend", hist.label);
      }
      friends.push_back(it->second);
    }
    std::sort(friends.begin(), friends.end());
    friends.erase(std::unique(friends.begin(), friends.end()), friends.end());  // one edge each
    for (int64_t r : friends) out.emplace_back(r, m.fold_social_edge_weight);
    return out;
  };
  std::vector<float> out(histories.size() * static_cast<size_t>(D), 0.0f);
  std::vector<float> h(static_cast<size_t>(D)), sum(static_cast<size_t>(D));
  for (size_t q = 0; q < histories.size(); ++q) {
    std::fill(h.begin(), h.end(), 0.0f);
    const auto known = users.find(histories[q].label);
    if (known != users.end()) {
      const float* e0 = m.fold_user_layer0.data() + known->second * D;
      std::copy(e0, e0 + D, h.begin());
    }
    sum = h;
    const auto& r = rows[q];
    const auto friends = friend_rows(histories[q]);
    double du = 0, su = 0;
    for (const auto& [i, w] : r) du += w;
    for (const auto& [v, w] : friends) su += w;
    for (int64_t k = 1; k <= L; ++k) {
      // h_u^(k) from the friends' and the items' layer k-1, in column order
      // (users before items, as the trainer's sparse product sums a row).
      const float* layer = m.fold_item_layers.data() + (k - 1) * I * D;
      std::fill(h.begin(), h.end(), 0.0f);
      for (const auto& [v, weight] : friends) {
        const float w = static_cast<float>(
            m.fold_social_weight * weight /
            std::sqrt(su * m.fold_social_degree[static_cast<size_t>(v)]));
        if (!std::isfinite(w)) continue;  // a friend without social edges in training
        const float* x = m.fold_user_layers.data() + ((k - 1) * U + v) * D;
        for (int64_t j = 0; j < D; ++j) h[static_cast<size_t>(j)] += w * x[j];
      }
      for (const auto& [i, weight] : r) {
        const float w =
            static_cast<float>(weight / std::sqrt(du * m.fold_item_degree[static_cast<size_t>(i)]));
        const float* x = layer + i * D;
        if (!std::isfinite(w)) continue;  // an item without train edges: none in the graph
        for (int64_t j = 0; j < D; ++j) h[static_cast<size_t>(j)] += w * x[j];
      }
      for (int64_t j = 0; j < D; ++j) sum[static_cast<size_t>(j)] += h[static_cast<size_t>(j)];
    }
    float* o = out.data() + q * static_cast<size_t>(D);
    double norm = 0;
    for (int64_t j = 0; j < D; ++j) {
      o[j] = sum[static_cast<size_t>(j)] / static_cast<float>(L + 1);
      norm += static_cast<double>(o[j]) * o[j];
    }
    if (m.score == "cosine") {
      const float n = static_cast<float>(std::max(std::sqrt(norm), 1e-12));
      for (int64_t j = 0; j < D; ++j) o[j] /= n;
    }
  }
  return out;
}

}  // namespace


std::vector<float> fold_in(const ModelFile& m, const std::vector<History>& histories) {
  if (m.is_filter() && !m.is_hybrid()) {
    // A filter needs no fold-in: its low-pass vector is the history's sum of
    // item rows of left V (model/graph_filter.h), as the export's users.
    model::GraphFilter g;
    g.settings = m.filter;
    g.item_counts = at::tensor(m.filter_item_counts, at::kDouble);
    g.basis = at::from_blob(const_cast<float*>(m.filter_basis.data()),
                            {static_cast<int64_t>(m.item_ids.size()), m.filter_rank}, at::kFloat);
    std::vector<int64_t> indptr(1, 0), items;
    for (const auto& edges : item_rows(m, histories)) {
      for (const auto& edge : edges) items.push_back(edge.first);
      indptr.push_back(static_cast<int64_t>(items.size()));
    }
    const at::Tensor users = model::low_pass_users(g, indptr, items);
    std::vector<float> out(users.data_ptr<float>(), users.data_ptr<float>() + users.numel());
    return out;
  }
  return fold_in_edges(m, histories, item_rows(m, histories));
}

namespace {

// A graph filter ranks a history by its filter (binary: an item named twice
// counts once, as in R), the history's items left out; a hybrid mixes in its
// learned part's scores of the folded vector.
std::vector<Recommendation> recommend_filter_histories(const ModelFile& m,
                                                       const std::vector<History>& histories,
                                                       const RecommendOptions& options) {
  const Edges rows = item_rows(m, histories);
  std::vector<int64_t> indptr(1, 0), items;
  for (const auto& r : rows) {
    for (const auto& edge : r) items.push_back(edge.first);
    indptr.push_back(static_cast<int64_t>(items.size()));
  }
  // A hybrid's learned part folds the history in as its model does.
  at::Tensor users;
  std::vector<float> folded;
  if (m.is_hybrid()) {
    folded = fold_in_edges(m, histories, rows);
    users = at::from_blob(folded.data(), {static_cast<int64_t>(histories.size()), m.dim},
                          at::kFloat);
  }
  at::Tensor s = FilterScorer(m).scores(indptr, items, users);
  float* sp = s.data_ptr<float>();
  const int64_t I = s.size(1);
  for (size_t k = 0; k + 1 < indptr.size(); ++k) {
    for (int64_t y = indptr[k]; y < indptr[k + 1]; ++y) {
      sp[static_cast<int64_t>(k) * I + items[static_cast<size_t>(y)]] =
          -std::numeric_limits<float>::infinity();
    }
  }
  const int64_t kk = std::min<int64_t>(options.k, I);
  const auto [tv, ti] = at::topk(s, kk, 1, true, true);
  const at::Tensor v = tv.contiguous(), i = ti.contiguous();
  std::vector<Recommendation> out;
  for (size_t k = 0; k < histories.size(); ++k) {
    Recommendation r;
    r.user = histories[k].label;
    for (int64_t j = 0; j < kk; ++j) {
      const float score = v.data_ptr<float>()[static_cast<int64_t>(k) * kk + j];
      if (score == -std::numeric_limits<float>::infinity()) break;
      r.items.emplace_back(
          m.item_ids[static_cast<size_t>(i.data_ptr<int64_t>()[static_cast<int64_t>(k) * kk + j])],
          score);
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

std::vector<Recommendation> recommend_histories(const ModelFile& m,
                                                const std::vector<History>& histories,
                                                const RecommendOptions& options,
                                                std::vector<float>* vectors) {
  if (options.strategy != Strategy::kSingle || options.explain > 0 || options.seen != nullptr) {
    HR_THROW(UsageError,
             "fold-in (--history, --histories) ranks by the folded vector alone: "
             "strategy single, no --explain, no --exclude-seen (the history is left out)");
  }
  if (m.is_filter()) {
    if (options.k < 1 || options.k > 100000) {
      HR_THROW(UsageError, "--k must be in 1..100000, got {}", options.k);
    }
    if (vectors != nullptr) *vectors = fold_in(m, histories);
    return recommend_filter_histories(m, histories, options);
  }
  const Edges rows = item_rows(m, histories);
  std::vector<float> folded = fold_in_edges(m, histories, rows);
  // The folded users as the model's users, over the same items.
  ModelFile q;
  q.item_ids = m.item_ids;
  q.item_vectors = m.item_vectors;
  q.item_file_row = m.item_file_row;
  q.dim = m.dim;
  q.score = m.score;
  q.model_type = m.model_type;
  q.index_file = m.index_file;
  q.index_kind = m.index_kind;
  for (const History& h : histories) q.user_ids.push_back(h.label);
  q.user_vectors = folded;
  auto engine = make_engine(q, options);
  engine->seen.indptr.assign(1, 0);
  for (const auto& r : rows) {
    for (const auto& edge : r) engine->seen.items.push_back(edge.first);
    engine->seen.indptr.push_back(static_cast<int64_t>(engine->seen.items.size()));
  }
  engine->source.seen = &engine->seen;
  std::vector<int64_t> all(histories.size());
  for (size_t k = 0; k < all.size(); ++k) all[k] = static_cast<int64_t>(k);
  std::vector<std::vector<float>> scores;
  const auto lists = rank_lists(*engine, all, &scores);
  std::vector<Recommendation> out;
  for (size_t k = 0; k < lists.size(); ++k) {
    Recommendation r;
    r.user = histories[k].label;
    for (size_t j = 0; j < lists[k].size(); ++j) {
      r.items.emplace_back(m.item_ids[static_cast<size_t>(lists[k][j])], scores[k][j]);
    }
    out.push_back(std::move(r));
  }
  if (vectors != nullptr) *vectors = std::move(folded);
  return out;
}

}  // namespace halorec::serve

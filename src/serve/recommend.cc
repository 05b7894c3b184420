#include "serve/recommend.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <unordered_map>

#include "core/check.h"
#include "core/digest.h"
#include "core/quote.h"
#include "metrics/ranking.h"

namespace halorec::serve {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Each user's train items (CSR by user row).
struct Seen {
  std::vector<int64_t> indptr, items;
  bool empty() const { return indptr.empty(); }
  const int64_t* begin(int64_t u) const { return items.data() + indptr[static_cast<size_t>(u)]; }
  const int64_t* end(int64_t u) const { return items.data() + indptr[static_cast<size_t>(u) + 1]; }
};

// Each user's items in `x`, sorted (CSR by user row).
Seen by_user(const data::Interactions& x, int64_t num_users) {
  Seen s;
  s.indptr.assign(static_cast<size_t>(num_users) + 1, 0);
  for (int64_t u : x.user) ++s.indptr[static_cast<size_t>(u) + 1];
  for (size_t q = 1; q < s.indptr.size(); ++q) s.indptr[q] += s.indptr[q - 1];
  s.items.resize(x.size());
  std::vector<int64_t> fill(s.indptr.begin(), s.indptr.end() - 1);
  for (size_t t = 0; t < x.size(); ++t) {
    s.items[static_cast<size_t>(fill[static_cast<size_t>(x.user[t])]++)] = x.item[t];
  }
  for (size_t u = 0; u + 1 < s.indptr.size(); ++u) {
    std::sort(s.items.begin() + s.indptr[u], s.items.begin() + s.indptr[u + 1]);
  }
  return s;
}

Seen seen_of(const data::Dataset* d, int64_t num_users) {
  return d == nullptr ? Seen{} : by_user(d->train, num_users);
}

struct Views {
  at::Tensor users, items, items_unit;
};

Views views_of(const ModelFile& m) {
  Views v;
  const int64_t U = static_cast<int64_t>(m.user_ids.size());
  const int64_t I = static_cast<int64_t>(m.item_ids.size());
  v.users = at::from_blob(const_cast<float*>(m.user_vectors.data()), {U, m.dim}, at::kFloat);
  v.items = at::from_blob(const_cast<float*>(m.item_vectors.data()), {I, m.dim}, at::kFloat);
  v.items_unit = v.items / v.items.norm(2, {1}, true).clamp_min(1e-12);
  return v;
}

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

// multi: interest j's best items are lists[first + j] (scores in values);
// slots go in D'Hondt order (the interest with the largest weight / (slots
// taken + 1) that still has an unchosen item), each taking that interest's
// best item not chosen yet.
void merge_by_weight(const std::vector<std::vector<int64_t>>& lists,
                     const std::vector<std::vector<float>>& values, int64_t first,
                     const std::vector<float>& weights, int64_t k, std::vector<int64_t>* out,
                     std::vector<float>* out_scores, std::vector<int32_t>* out_interest) {
  const size_t n = weights.size();
  std::vector<int64_t> taken(n, 0), next(n, 0);
  std::set<int64_t> chosen;
  while (static_cast<int64_t>(out->size()) < k) {
    int64_t best = -1;
    double best_quotient = -1;
    for (size_t j = 0; j < n; ++j) {
      const auto& cand = lists[static_cast<size_t>(first) + j];
      while (next[j] < static_cast<int64_t>(cand.size()) &&
             chosen.count(cand[static_cast<size_t>(next[j])]) > 0) {
        ++next[j];
      }
      if (next[j] >= static_cast<int64_t>(cand.size())) continue;
      const double quotient = weights[j] / static_cast<double>(taken[j] + 1);
      if (quotient > best_quotient) {
        best_quotient = quotient;
        best = static_cast<int64_t>(j);
      }
    }
    if (best < 0) break;
    const size_t row = static_cast<size_t>(first + best);
    const size_t at_ = static_cast<size_t>(next[static_cast<size_t>(best)]++);
    chosen.insert(lists[row][at_]);
    out->push_back(lists[row][at_]);
    out_scores->push_back(values[row][at_]);
    out_interest->push_back(static_cast<int32_t>(best));
    ++taken[static_cast<size_t>(best)];
  }
}

// mmr: from candidates (best first, with scores), greedily the item that
// maximizes (1 - diversity) * relevance - diversity * (largest cosine to an
// item already chosen); relevance = score scaled to [0, 1] over the candidates.
void mmr_select(const std::vector<int64_t>& cand, const std::vector<float>& score,
                const at::Tensor& items_unit, int64_t k, double diversity,
                std::vector<int64_t>* out, std::vector<float>* out_scores) {
  const int64_t c = static_cast<int64_t>(cand.size());
  if (c == 0) return;
  const float hi = score.front(), lo = score.back();
  const at::Tensor unit = items_unit.index_select(0, at::tensor(cand, at::kLong));
  const at::Tensor sim_t = at::mm(unit, unit.t()).contiguous();
  const float* sim = sim_t.data_ptr<float>();
  std::vector<float> max_sim(static_cast<size_t>(c), 0.0f);
  std::vector<char> used(static_cast<size_t>(c), 0);
  for (int64_t pick = 0; pick < std::min(k, c); ++pick) {
    int64_t best = -1;
    double best_value = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < c; ++j) {
      if (used[static_cast<size_t>(j)]) continue;
      const double relevance = hi > lo ? (score[static_cast<size_t>(j)] - lo) / (hi - lo) : 1.0;
      const double redundancy = pick == 0 ? 0.0 : max_sim[static_cast<size_t>(j)];
      const double value = (1.0 - diversity) * relevance - diversity * redundancy;
      if (value > best_value) {
        best_value = value;
        best = j;
      }
    }
    used[static_cast<size_t>(best)] = 1;
    out->push_back(cand[static_cast<size_t>(best)]);
    out_scores->push_back(score[static_cast<size_t>(best)]);
    for (int64_t j = 0; j < c; ++j) {
      const float s_ = sim[best * c + j];
      max_sim[static_cast<size_t>(j)] =
          pick == 0 ? s_ : std::max(max_sim[static_cast<size_t>(j)], s_);
    }
  }
}

void check_strategy(const ModelFile& m, const RecommendOptions& o) {
  if (o.k < 1) HR_THROW(UsageError, "--k must be >= 1, got {}", o.k);
  if (o.strategy != "single" && o.strategy != "multi" && o.strategy != "mmr") {
    HR_THROW(UsageError, "--strategy '{}': expected single, multi or mmr", o.strategy);
  }
  if (!(o.diversity >= 0.0 && o.diversity <= 1.0)) {
    HR_THROW(UsageError, "--diversity must be in [0, 1], got {}", o.diversity);
  }
  if (o.candidates < 1) HR_THROW(UsageError, "--candidates must be >= 1, got {}", o.candidates);
  if (o.strategy == "multi" && m.interests.empty()) {
    HR_THROW(UsageError, "--strategy multi needs a model exported with --interests");
  }
}

}  // namespace

void check_model_dataset(const ModelFile& m, const data::Dataset& d) {
  // The model's users and items: the dataset's, then its cold-start ones.
  const bool users_match =
      m.user_ids.size() == d.user_ids.size() + static_cast<size_t>(m.cold_users) &&
      (m.user_id_scheme != "original" ||
       std::equal(d.user_ids.begin(), d.user_ids.end(), m.user_ids.begin()));
  const bool items_match =
      m.item_ids.size() == d.item_ids.size() + static_cast<size_t>(m.cold_items) &&
      std::equal(d.item_ids.begin(), d.item_ids.end(), m.item_ids.begin());
  if (d.fingerprint() != m.dataset_fingerprint || !users_match || !items_match) {
    HR_THROW(InputError,
             "the dataset is not the one the model was trained on (fingerprint {}..., "
             "model's {}...)",
             d.fingerprint().substr(0, 12), m.dataset_fingerprint.substr(0, 12));
  }
}

namespace {

// The row order that puts a model's rows (ids `model_ids`) in the dataset's
// order: the row of each dataset id (as `as_stored` writes it in the model),
// then the rows no dataset id took (cold-start), in their order.
std::vector<int64_t> dataset_order(const std::vector<std::string>& model_ids,
                                   const std::vector<std::string>& dataset_ids, const char* kind,
                                   const std::function<std::string(const std::string&)>& as_stored) {
  std::unordered_map<std::string, int64_t> row_of;
  row_of.reserve(model_ids.size());
  for (size_t r = 0; r < model_ids.size(); ++r) {
    row_of.emplace(model_ids[r], static_cast<int64_t>(r));
  }
  std::vector<int64_t> order;
  order.reserve(model_ids.size());
  std::vector<char> used(model_ids.size(), 0);
  for (const std::string& id : dataset_ids) {
    const auto it = row_of.find(as_stored(id));
    if (it == row_of.end() || used[static_cast<size_t>(it->second)]) {
      HR_THROW(InputError,
               "the dataset's {} '{}' has no row in the model: not the dataset this model was "
               "exported from",
               kind, quote(id));
    }
    used[static_cast<size_t>(it->second)] = 1;
    order.push_back(it->second);
  }
  for (size_t r = 0; r < used.size(); ++r) {
    if (!used[r]) order.push_back(static_cast<int64_t>(r));
  }
  return order;
}

bool in_dataset_order(const std::vector<std::string>& model_ids,
                      const std::vector<std::string>& dataset_ids) {
  return model_ids.size() >= dataset_ids.size() &&
         std::equal(dataset_ids.begin(), dataset_ids.end(), model_ids.begin());
}

}  // namespace

void align_to_dataset(ModelFile& m, const data::Dataset& d, const std::string& key) {
  const auto same = [](const std::string& id) { return id; };
  if (!in_dataset_order(m.item_ids, d.item_ids) &&
      m.item_ids.size() == d.item_ids.size() + static_cast<size_t>(m.cold_items)) {
    reorder_items(m, dataset_order(m.item_ids, d.item_ids, "item", same));
  }
  if (m.user_id_scheme == "original") {
    if (!in_dataset_order(m.user_ids, d.user_ids) &&
        m.user_ids.size() == d.user_ids.size() + static_cast<size_t>(m.cold_users)) {
      reorder_users(m, dataset_order(m.user_ids, d.user_ids, "user", same));
    }
    return;
  }
  if (key.empty()) {
    HR_THROW(UsageError,
             "the model's user ids are pseudonymized and its rows carry no dataset "
             "order: give the export's --key KEY_FILE to use it with a dataset");
  }
  // Checks the scheme and the key.
  user_rows_of(m, {}, key);
  if (m.user_ids.size() != d.user_ids.size() + static_cast<size_t>(m.cold_users)) {
    check_model_dataset(m, d);  // names the mismatch
  }
  // Cold users keep their (pseudonym) order after the dataset's.
  reorder_users(m, dataset_order(m.user_ids, d.user_ids, "user",
                                 [&](const std::string& u) { return hmac_sha256_hex(key, u); }));
}

std::vector<int64_t> user_rows_of(const ModelFile& m, const std::vector<std::string>& users,
                                  const std::string& key) {
  const bool pseudonyms = m.user_id_scheme != "original";
  if (pseudonyms && m.user_id_scheme != "hmac-sha256") {
    HR_THROW(InputError, "the model's user ids are '{}', which this HaloRec cannot read",
             m.user_id_scheme);
  }
  if (pseudonyms && key.empty()) {
    HR_THROW(UsageError,
             "the model's user ids are pseudonymized: give the export's --key KEY_FILE");
  }
  if (pseudonyms && hmac_sha256_hex(key, kKeyCheckMessage) != m.key_check) {
    HR_THROW(InputError, "--key: not the key this model was exported with (key check differs)");
  }
  if (!pseudonyms && !key.empty()) {
    HR_THROW(UsageError, "--key given, but the model's user ids are not pseudonymized");
  }
  std::unordered_map<std::string, int64_t> row_of;
  row_of.reserve(m.user_ids.size());
  for (size_t r = 0; r < m.user_ids.size(); ++r)
    row_of.emplace(m.user_ids[r], static_cast<int64_t>(r));
  std::vector<int64_t> rows;
  for (const std::string& u : users) {
    const auto it = row_of.find(pseudonyms ? hmac_sha256_hex(key, u) : u);
    if (it == row_of.end()) HR_THROW(InputError, "user '{}' is not in the model", quote(u));
    rows.push_back(it->second);
  }
  return rows;
}

namespace {

// What every list of one call needs, checked and built once: the options
// and dataset checked against the model, each user's train items, and the
// vector views.
struct Engine {
  const ModelFile& m;
  Seen seen;
  Views views;
  std::vector<int64_t> row_of_label;  // index label (file row) -> item row; empty: the same
};

Engine make_engine(const ModelFile& m, const RecommendOptions& o) {
  check_strategy(m, o);
  if (o.seen != nullptr) check_model_dataset(m, *o.seen);
  Engine e{m, seen_of(o.seen, static_cast<int64_t>(m.user_ids.size())), views_of(m), {}};
  if (o.index != nullptr && !m.item_file_row.empty()) {
    e.row_of_label.resize(m.item_file_row.size());
    for (size_t r = 0; r < m.item_file_row.size(); ++r) {
      e.row_of_label[static_cast<size_t>(m.item_file_row[r])] = static_cast<int64_t>(r);
    }
  }
  return e;
}

// The best `pool` items of each query row through the ANN index, the row's
// user's seen items dropped. Rows are searched in chunks of similar seen
// counts (FAISS takes one k per call), each asking for pool + the most seen
// items of a row in the chunk, so lists are as long as the exact path's
// without every row paying for the heaviest user's over-fetch.
void retrieve(const Engine& engine, const AnnIndex& index, const at::Tensor& queries,
              const std::vector<int64_t>& row_user, int64_t pool,
              std::vector<std::vector<int64_t>>* items, std::vector<std::vector<float>>* values) {
  const Seen& seen = engine.seen;
  const int64_t I = static_cast<int64_t>(engine.m.item_ids.size());
  const int64_t nq = queries.size(0);
  auto seen_count = [&](int64_t r) -> int64_t {
    if (seen.empty()) return 0;
    const int64_t u = row_user[static_cast<size_t>(r)];
    return seen.end(u) - seen.begin(u);
  };
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
      std::copy_n(qp + order[static_cast<size_t>(j)] * dim, dim,
                  chunk.begin() + (j - c0) * dim);
    }
    std::vector<int64_t> labels;
    std::vector<float> scores;
    index.search(chunk.data(), c1 - c0, fetch, &labels, &scores);
    for (int64_t j = c0; j < c1; ++j) {
      const int64_t r = order[static_cast<size_t>(j)];
      auto& row = (*items)[static_cast<size_t>(r)];
      auto& val = (*values)[static_cast<size_t>(r)];
      for (int64_t x = 0; x < fetch && static_cast<int64_t>(row.size()) < pool; ++x) {
        const size_t at_ = static_cast<size_t>((j - c0) * fetch + x);
        int64_t item = labels[at_];
        if (item < 0) break;
        if (!engine.row_of_label.empty()) item = engine.row_of_label[static_cast<size_t>(item)];
        if (!seen.empty()) {
          const int64_t u = row_user[static_cast<size_t>(r)];
          if (std::binary_search(seen.begin(u), seen.end(u), item)) continue;
        }
        row.push_back(item);
        val.push_back(scores[at_]);
      }
    }
  }
}

std::vector<std::vector<int64_t>> rank_lists(const Engine& engine, const std::vector<int64_t>& rows,
                                             const RecommendOptions& o,
                                             std::vector<std::vector<float>>* scores_out,
                                             std::vector<std::vector<int32_t>>* interest_out) {
  const ModelFile& m = engine.m;
  const Seen& seen = engine.seen;
  const Views& v = engine.views;
  const at::Tensor items_t = v.items.t();
  const int64_t n = static_cast<int64_t>(rows.size());
  std::vector<std::vector<int64_t>> lists(static_cast<size_t>(n));
  std::vector<std::vector<float>> scores(static_cast<size_t>(n));
  std::vector<std::vector<int32_t>> from(static_cast<size_t>(n));
  const InterestTable& t = m.interests;
  auto has_interests = [&](int64_t u) {
    return !t.empty() &&
           t.user_offsets[static_cast<size_t>(u) + 1] > t.user_offsets[static_cast<size_t>(u)];
  };
  constexpr int64_t kBlock = 512;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    // Query rows: the user's vector, or (multi) each interest's medoid vector.
    std::vector<int64_t> row_user;
    std::vector<int64_t> user_query, item_query;  // rows of users / items used as queries
    std::vector<int64_t> first_row(static_cast<size_t>(e - b) + 1, 0);
    for (int64_t q = b; q < e; ++q) {
      const int64_t u = rows[static_cast<size_t>(q)];
      first_row[static_cast<size_t>(q - b)] = static_cast<int64_t>(row_user.size());
      if (o.strategy == "multi" && has_interests(u)) {
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
      queries[r].copy_(user_query[static_cast<size_t>(r)] >= 0
                           ? v.users[user_query[static_cast<size_t>(r)]]
                           : v.items[item_query[static_cast<size_t>(r)]]);
    }
    const int64_t pool = o.strategy == "mmr" ? std::max(o.k, o.candidates) : o.k;
    std::vector<std::vector<int64_t>> top;
    std::vector<std::vector<float>> top_v;
    if (o.index != nullptr) {
      retrieve(engine, *o.index, queries, row_user, pool, &top, &top_v);
    } else {
      at::Tensor s = at::mm(queries, items_t).contiguous();
      mask_seen(s, row_user, seen);
      top_rows(s, pool, &top, &top_v);
    }
    at::parallel_for(b, e, 16, [&](int64_t qb, int64_t qe) {
      for (int64_t q = qb; q < qe; ++q) {
        const int64_t r0 = first_row[static_cast<size_t>(q - b)];
        const int64_t r1 = first_row[static_cast<size_t>(q - b) + 1];
        auto& list = lists[static_cast<size_t>(q)];
        auto& sc = scores[static_cast<size_t>(q)];
        auto& src = from[static_cast<size_t>(q)];
        if (o.strategy == "multi" && item_query[static_cast<size_t>(r0)] >= 0) {
          const int64_t u = rows[static_cast<size_t>(q)];
          const int64_t j0 = t.user_offsets[static_cast<size_t>(u)];
          const std::vector<float> weights(t.weight.begin() + j0,
                                           t.weight.begin() + j0 + (r1 - r0));
          merge_by_weight(top, top_v, r0, weights, o.k, &list, &sc, &src);
        } else if (o.strategy == "mmr") {
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

}  // namespace

std::vector<std::vector<int64_t>> recommend_rows(const ModelFile& m,
                                                 const std::vector<int64_t>& rows,
                                                 const RecommendOptions& o,
                                                 std::vector<std::vector<float>>* scores_out,
                                                 std::vector<std::vector<int32_t>>* interest_out) {
  return rank_lists(make_engine(m, o), rows, o, scores_out, interest_out);
}

std::vector<Recommendation> recommend(const ModelFile& m, const std::vector<std::string>& users,
                                      const RecommendOptions& o, const std::string& key) {
  const std::vector<int64_t> rows = user_rows_of(m, users, key);
  if (o.explain > 0 && o.seen == nullptr) {
    HR_THROW(UsageError, "--explain needs the model's dataset (--exclude-seen DATASET)");
  }
  const Engine engine = make_engine(m, o);
  std::vector<std::vector<float>> scores;
  std::vector<std::vector<int32_t>> from;
  const auto lists = rank_lists(engine, rows, o, &scores, &from);
  const Seen& seen = engine.seen;
  const Views& v = engine.views;
  const InterestTable& t = m.interests;
  std::vector<Recommendation> out;
  for (size_t q = 0; q < rows.size(); ++q) {
    Recommendation r;
    r.user = users[q];
    for (size_t j = 0; j < lists[q].size(); ++j) {
      r.items.emplace_back(m.item_ids[static_cast<size_t>(lists[q][j])], scores[q][j]);
    }
    if (o.explain > 0 && !lists[q].empty()) {
      const int64_t u = rows[q];
      const std::vector<int64_t> own(seen.begin(u), seen.end(u));
      const at::Tensor rec = v.items_unit.index_select(0, at::tensor(lists[q], at::kLong));
      at::Tensor own_sim;
      if (!own.empty()) {
        own_sim =
            at::mm(rec, v.items_unit.index_select(0, at::tensor(own, at::kLong)).t()).contiguous();
      }
      at::Tensor medoid_sim;
      int64_t j0 = 0, j1 = 0;
      if (!t.empty()) {
        j0 = t.user_offsets[static_cast<size_t>(u)];
        j1 = t.user_offsets[static_cast<size_t>(u) + 1];
        if (j1 > j0) {
          const std::vector<int64_t> med(t.medoid.begin() + j0, t.medoid.begin() + j1);
          medoid_sim = at::mm(rec, v.items_unit.index_select(0, at::tensor(med, at::kLong)).t())
                           .contiguous();
        }
      }
      for (size_t j = 0; j < lists[q].size(); ++j) {
        Explanation ex;
        if (o.strategy == "multi" && !from[q].empty()) {
          ex.interest = from[q][j];
        } else if (medoid_sim.defined()) {
          ex.interest =
              static_cast<int32_t>(medoid_sim[static_cast<int64_t>(j)].argmax().item<int64_t>());
        }
        if (own_sim.defined()) {
          const int64_t take = std::min<int64_t>(o.explain, static_cast<int64_t>(own.size()));
          const auto [sv, si] = at::topk(own_sim[static_cast<int64_t>(j)], take);
          for (int64_t c = 0; c < take; ++c) {
            ex.because.emplace_back(
                m.item_ids[static_cast<size_t>(own[static_cast<size_t>(si[c].item<int64_t>())])],
                sv[c].item<float>());
          }
        }
        r.why.push_back(std::move(ex));
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

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
        at::mm(user_vectors.index_select(0, at::tensor(rows, at::kLong)), items_t);
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

std::map<std::string, double> evaluate_strategy(const ModelFile& m, const data::Dataset& d,
                                                const std::vector<int64_t>& topk,
                                                RecommendOptions o) {
  check_topk(topk);
  const int64_t U = d.num_users();
  const int64_t I = static_cast<int64_t>(m.item_ids.size());  // with cold-start items
  o.k = *std::max_element(topk.begin(), topk.end());
  o.seen = &d;
  const Engine engine = make_engine(m, o);
  // Test items per user, and train popularity.
  std::vector<std::vector<int64_t>> truth(static_cast<size_t>(U));
  for (size_t t = 0; t < d.test.size(); ++t)
    truth[static_cast<size_t>(d.test.user[t])].push_back(d.test.item[t]);
  std::vector<int64_t> users;
  for (int64_t u = 0; u < U; ++u) {
    auto& tr = truth[static_cast<size_t>(u)];
    std::sort(tr.begin(), tr.end());
    tr.erase(std::unique(tr.begin(), tr.end()), tr.end());
    if (!tr.empty()) users.push_back(u);
  }
  // Users per item in train (prepare merges repeated pairs: one each).
  std::vector<int64_t> item_users(static_cast<size_t>(I), 0);
  for (int64_t item : engine.seen.items) ++item_users[static_cast<size_t>(item)];
  const auto lists = rank_lists(engine, users, o, nullptr, nullptr);
  const Views& v = engine.views;
  std::map<std::string, double> out;
  const double n = static_cast<double>(users.size());
  for (int64_t k : topk) {
    double recall = 0, ndcg = 0, ild = 0, novelty = 0;
    std::vector<uint8_t> listed(static_cast<size_t>(I), 0);
    for (size_t q = 0; q < users.size(); ++q) {
      const auto& tr = truth[static_cast<size_t>(users[q])];
      const int64_t len = std::min<int64_t>(k, static_cast<int64_t>(lists[q].size()));
      std::vector<double> sums(metrics::kPerList, 0.0);
      metrics::add_ranking_metrics(lists[q].data(), len, tr.data(), tr.data() + tr.size(), {k},
                                   sums.data());
      recall += sums[0];
      ndcg += sums[1];
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
    out["coverage" + at_k] = metrics::coverage(listed.data(), {k}, I)[0];
    out["ild" + at_k] = ild / n;
    out["novelty" + at_k] = novelty / n;
  }
  return out;
}

}  // namespace halorec::serve

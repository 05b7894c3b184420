#include "serve/filter_scoring.h"

#include <ATen/ATen.h>

#include "core/check.h"
#include "core/counting_sort.h"
#include "model/local_graph.h"

namespace halorec::serve {

FilterScorer::FilterScorer(const ModelFile& m)
    : m_(m),
      users_(static_cast<int64_t>(m.filter_indptr.size()) - 1),
      items_(static_cast<int64_t>(m.item_ids.size())) {
  HR_CHECK(m.is_filter(), "a filter scorer for a model that is no filter");
  g_.settings = m.filter;
  g_.item_counts = at::tensor(m.filter_item_counts, at::kDouble);
  if (m.filter_rank > 0) {
    g_.basis = at::from_blob(const_cast<float*>(m.filter_basis.data()), {items_, m.filter_rank},
                             at::kFloat);
  }
  const std::vector<float> val =
      model::normalized_values(m.filter_indptr, m.filter_items, g_.item_counts);
  // The transpose: each item's user rows, with their values.
  CountingSort by_item(items_);
  for (int64_t i : m.filter_items) by_item.count(i);
  by_item.finish_counts();
  std::vector<int64_t> t_rows(m.filter_items.size());
  std::vector<float> t_val(m.filter_items.size());
  for (int64_t u = 0; u < users_; ++u) {
    for (int64_t y = m.filter_indptr[u]; y < m.filter_indptr[u + 1]; ++y) {
      const auto at_ = static_cast<size_t>(by_item.place(m.filter_items[y]));
      t_rows[at_] = u;
      t_val[at_] = val[static_cast<size_t>(y)];
    }
  }
  rip_ = at::tensor(m.filter_indptr, at::kLong);
  rcol_ = at::tensor(m.filter_items, at::kLong);
  rval_ = at::tensor(val, at::kFloat);
  tip_ = at::tensor(by_item.take_offsets(), at::kLong);
  tcol_ = at::tensor(t_rows, at::kLong);
  tval_ = at::tensor(t_val, at::kFloat);
  if (m.is_hybrid()) {
    HR_CHECK(static_cast<int64_t>(m.item_vectors.size()) == items_ * m.dim,
             "a hybrid's item vectors");
    item_vectors_ =
        at::from_blob(const_cast<float*>(m.item_vectors.data()), {items_, m.dim}, at::kFloat);
  }
}

at::Tensor FilterScorer::scores(const std::vector<int64_t>& indptr,
                                const std::vector<int64_t>& items, const at::Tensor& users) const {
  const int64_t n = static_cast<int64_t>(indptr.size()) - 1;
  at::Tensor x = at::zeros({items_, n}, at::kFloat);  // item-major
  float* xp = x.data_ptr<float>();
  for (int64_t k = 0; k < n; ++k) {
    for (int64_t y = indptr[static_cast<size_t>(k)]; y < indptr[static_cast<size_t>(k) + 1]; ++y) {
      xp[items[static_cast<size_t>(y)] * n + k] = 1.f;
    }
  }
  const auto propagate = [this](const at::Tensor& z) {
    return model::spmm_forward(tip_, tcol_, tval_, items_,
                               model::spmm_forward(rip_, rcol_, rval_, users_, z));
  };
  at::Tensor s = model::filter_scores(g_, x, propagate).t().contiguous();
  if (!m_.is_hybrid()) return s;
  HR_CHECK(users.defined() && users.size(0) == n && users.size(1) == m_.dim,
           "a hybrid's scores need the histories' vectors");
  return model::mix_scores(s, at::mm(users, item_vectors_.t()), m_.filter_mix);
}

at::Tensor FilterScorer::user_scores(const std::vector<int64_t>& rows) const {
  std::vector<int64_t> indptr(1, 0), items;
  for (int64_t u : rows) {
    HR_CHECK(u >= 0 && u < users_, "user row {} of {}", u, users_);
    items.insert(items.end(), m_.filter_items.begin() + m_.filter_indptr[static_cast<size_t>(u)],
                 m_.filter_items.begin() + m_.filter_indptr[static_cast<size_t>(u) + 1]);
    indptr.push_back(static_cast<int64_t>(items.size()));
  }
  at::Tensor users;
  if (m_.is_hybrid()) {
    const at::Tensor all = at::from_blob(const_cast<float*>(m_.user_vectors.data()),
                                         {users_, m_.dim}, at::kFloat);
    users = all.index_select(0, at::tensor(rows, at::kLong));
  }
  return scores(indptr, items, users);
}

}  // namespace halorec::serve

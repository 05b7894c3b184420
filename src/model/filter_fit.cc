#include "model/filter_fit.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <optional>
#include <tuple>

#include "core/check.h"
#include "core/counting_sort.h"
#include "core/progress.h"
#include "model/local_graph.h"

namespace halorec::model {

void FilterRows::build(const std::vector<int64_t>& rec_user, const std::vector<int64_t>& rec_item) {
  indptr.assign(1, 0);
  items.clear();
  size_t t = 0;
  for (int64_t u : users) {
    while (t < rec_user.size() && rec_user[t] < u) ++t;
    for (; t < rec_user.size() && rec_user[t] == u; ++t) {
      if (items.size() > static_cast<size_t>(indptr.back()) && items.back() == rec_item[t]) {
        continue;
      }
      items.push_back(rec_item[t]);
    }
    indptr.push_back(static_cast<int64_t>(items.size()));
  }
  CountingSort by_item(num_items);
  for (int64_t i : items) by_item.count(i);
  by_item.finish_counts();
  t_rows.resize(items.size());
  for (size_t k = 0; k + 1 < indptr.size(); ++k) {
    for (int64_t e = indptr[k]; e < indptr[k + 1]; ++e) {
      t_rows[static_cast<size_t>(by_item.place(items[static_cast<size_t>(e)]))] =
          static_cast<int64_t>(k);
    }
  }
  t_indptr = by_item.take_offsets();
}

at::Tensor item_counts(const FilterRows& rows, comm::Communicator& comm) {
  at::Tensor n = at::zeros({rows.num_items}, at::kDouble);
  double* np = n.data_ptr<double>();
  for (int64_t i = 0; i < rows.num_items; ++i) {
    np[i] = static_cast<double>(rows.t_indptr[static_cast<size_t>(i) + 1] -
                                rows.t_indptr[static_cast<size_t>(i)]);
  }
  comm.all_reduce(n, comm::ReduceOp::kSum);
  return n;
}

int64_t default_filter_rank(const std::string& kind) {
  return kind == "bspm" ? 448 : kind == "chebycf" ? 512 : 256;
}

double default_filter_alpha(const std::string& kind) {
  return kind == "gfcf" ? 0.3 : 0.2;
}

// R~ over this rank's users, its transpose, and the products with it.
// Signals are item-major: [I, b], one column per user of a block.
class FilterPropagation {
 public:
  FilterPropagation(const FilterRows& l, comm::Communicator& comm) : comm_(comm), I_(l.num_items) {
    Ul_ = static_cast<int64_t>(l.users.size());
    counts_ = item_counts(l, comm);
    const std::vector<float> val = normalized_values(l.indptr, l.items, counts_);
    std::vector<float> t_val(l.t_rows.size());
    std::vector<int64_t> fill(l.t_indptr.begin(), l.t_indptr.end() - 1);
    for (int64_t k = 0; k < Ul_; ++k) {
      for (int64_t y = l.indptr[static_cast<size_t>(k)]; y < l.indptr[static_cast<size_t>(k) + 1];
           ++y) {
        t_val[static_cast<size_t>(fill[static_cast<size_t>(l.items[static_cast<size_t>(y)])]++)] =
            val[static_cast<size_t>(y)];
      }
    }
    rip_ = at::tensor(l.indptr, at::kLong);
    rcol_ = at::tensor(l.items, at::kLong);
    rval_ = at::tensor(val, at::kFloat);
    tip_ = at::tensor(l.t_indptr, at::kLong);
    tcol_ = at::tensor(l.t_rows, at::kLong);
    tval_ = at::tensor(t_val, at::kFloat);
  }

  int64_t items() const { return I_; }
  const at::Tensor& counts() const { return counts_; }

  // This rank's users' term of R~^T R~ q.
  at::Tensor local_gram(const at::Tensor& q) const {
    return spmm_forward(tip_, tcol_, tval_, I_, spmm_forward(rip_, rcol_, rval_, Ul_, q));
  }

  // R~^T R~ q over all ranks' users; q the same on every rank. Collective.
  at::Tensor gram(const at::Tensor& q) {
    at::Tensor z = local_gram(q);
    comm_.all_reduce(z, comm::ReduceOp::kSum);
    return z;
  }

  // x P for this rank's block x ([I, b]; b may differ by rank, or be 0):
  // every rank's blocks are gathered, each rank adds its users' term for all
  // of them, and each block's terms return to its rank and are summed there.
  // Collective.
  at::Tensor propagate(const at::Tensor& x) {
    const int P = comm_.size();
    if (P == 1) return local_gram(x);
    const int64_t b = x.size(1);
    const at::Tensor sizes_t = comm_.all_gather_v(at::tensor({b}, at::kLong));
    std::vector<int64_t> sizes(sizes_t.data_ptr<int64_t>(), sizes_t.data_ptr<int64_t>() + P);
    const at::Tensor all = comm_.all_gather_v(x.t().contiguous());  // [total, I]
    const at::Tensor terms = local_gram(all.t().contiguous()).t().contiguous();
    const at::Tensor got =
        comm_.all_to_all_v(terms, sizes, std::vector<int64_t>(static_cast<size_t>(P), b));
    return got.view({P, b, I_}).sum(0).t().contiguous();
  }

 private:
  comm::Communicator& comm_;
  int64_t I_ = 0, Ul_ = 0;
  at::Tensor counts_;
  at::Tensor rip_, rcol_, rval_, tip_, tcol_, tval_;
};

namespace {

// Top `rank` right singular vectors of R~ (eigenvectors of R~^T R~): subspace
// iteration with Rayleigh-Ritz. Rank 0's orthonormal basis is the one every
// rank uses, so all ranks hold the same vectors. [I, rank] float.
at::Tensor low_pass_basis(FilterPropagation& f, const BasisOptions& o, comm::Communicator& comm,
                          std::map<std::string, double>* info) {
  const int64_t I = f.items();
  const int64_t rank = std::min(o.rank, I);
  const int64_t width = std::min(I, rank + o.oversample);
  at::Tensor q;
  {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
    q = std::get<0>(at::linalg_qr(at::randn({I, width}, gen, at::kDouble)));
  }
  std::optional<Progress> progress;
  if (comm.rank() == 0) progress.emplace("ideal low-pass basis", "power iterations", o.power_iters);
  for (int64_t it = 0; it < o.power_iters; ++it) {
    q = std::get<0>(at::linalg_qr(f.gram(q))).contiguous();
    comm.broadcast(q, 0);
    if (progress) progress->at(it + 1);
  }
  at::Tensor t = at::mm(q.t(), f.gram(q));
  t = (t + t.t()) * 0.5;
  const auto [evals, evecs] = at::linalg_eigh(t);  // ascending
  at::Tensor v = at::mm(q, evecs.slice(1, width - rank, width)).contiguous();
  comm.broadcast(v, 0);
  if (info != nullptr) {
    (*info)["sigma_max"] = std::sqrt(std::max(0.0, evals[width - 1].item<double>()));
    (*info)["sigma_rank"] = std::sqrt(std::max(0.0, evals[width - rank].item<double>()));
  }
  return v.to(at::kFloat);
}

// The block's train rows, item-major [I, e - b]: 1 where a user has an item.
at::Tensor history_block(const FilterRows& l, const std::vector<int64_t>& ids, int64_t b,
                         int64_t e) {
  const int64_t I = l.num_items;
  at::Tensor x = at::zeros({I, e - b}, at::kFloat);
  float* xp = x.data_ptr<float>();
  for (int64_t k = b; k < e; ++k) {
    const int64_t r = l.row_of(ids[static_cast<size_t>(k)]);
    HR_CHECK(r < static_cast<int64_t>(l.users.size()) &&
                 l.users[static_cast<size_t>(r)] == ids[static_cast<size_t>(k)],
             "user {} is not one of this rank's filter rows", ids[static_cast<size_t>(k)]);
    for (int64_t y = l.indptr[static_cast<size_t>(r)]; y < l.indptr[static_cast<size_t>(r) + 1];
         ++y) {
      xp[l.items[static_cast<size_t>(y)] * (e - b) + (k - b)] = 1.f;
    }
  }
  return x;
}

}  // namespace

FilterFit::FilterFit(const FilterRows& rows, comm::Communicator& comm, const BasisOptions* basis,
                     std::map<std::string, double>* info)
    : rows_(rows), f_(std::make_shared<FilterPropagation>(rows, comm)) {
  if (basis != nullptr) basis_ = low_pass_basis(*f_, *basis, comm, info);
}

const at::Tensor& FilterFit::counts() const {
  return f_->counts();
}

GraphFilter FilterFit::filter(const FilterSettings& s) const {
  GraphFilter g;
  g.settings = s;
  g.item_counts = f_->counts();
  if (s.alpha > 0) {
    HR_CHECK(basis_.defined(), "a filter with an ideal term from a fit without a basis");
    g.basis = basis_;
  }
  return g;
}

at::Tensor FilterFit::scores(const GraphFilter& g, const std::vector<int64_t>& ids, int64_t b,
                             int64_t e) const {
  const at::Tensor x = history_block(rows_, ids, b, e);
  FilterPropagation& f = *f_;
  return filter_scores(g, x, [&f](const at::Tensor& z) { return f.propagate(z); }).t().contiguous();
}

}  // namespace halorec::model

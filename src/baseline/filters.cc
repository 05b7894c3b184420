#include "baseline/filters.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "core/check.h"
#include "model/local_graph.h"

namespace halorec::baseline {

// R~ over this rank's users, its transpose, and the products with it.
// Signals are item-major: [I, b], one column per user of a block.
class Filtering {
 public:
  Filtering(const Local& l, comm::Communicator& comm) : comm_(comm), I_(l.num_items) {
    Ul_ = static_cast<int64_t>(l.users.size());
    counts_ = item_counts(l, comm);
    const std::vector<float> val = model::normalized_values(l.indptr, l.items, counts_);
    std::vector<float> t_val(l.t_rows.size());
    std::vector<int64_t> fill(l.t_indptr.begin(), l.t_indptr.end() - 1);
    for (int64_t k = 0; k < Ul_; ++k) {
      for (int64_t y = l.indptr[k]; y < l.indptr[k + 1]; ++y) {
        t_val[static_cast<size_t>(fill[static_cast<size_t>(l.items[y])]++)] =
            val[static_cast<size_t>(y)];
      }
    }
    rip_ = long_tensor(l.indptr);
    rcol_ = long_tensor(l.items);
    rval_ = at::tensor(val, at::kFloat);
    tip_ = long_tensor(l.t_indptr);
    tcol_ = long_tensor(l.t_rows);
    tval_ = at::tensor(t_val, at::kFloat);
  }

  int64_t items() const { return I_; }
  const at::Tensor& counts() const { return counts_; }

  // This rank's users' term of R~^T R~ q.
  at::Tensor local_gram(const at::Tensor& q) const {
    return model::spmm_forward(tip_, tcol_, tval_, I_,
                               model::spmm_forward(rip_, rcol_, rval_, Ul_, q));
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
at::Tensor low_pass_basis(Filtering& f, int64_t rank, const Options& o, comm::Communicator& comm,
                          Result& res) {
  const int64_t I = f.items();
  rank = std::min(rank, I);
  const int64_t width = std::min(I, rank + o.oversample);
  at::Tensor q;
  {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
    q = std::get<0>(at::linalg_qr(at::randn({I, width}, gen, at::kDouble)));
  }
  for (int64_t it = 0; it < o.power_iters; ++it) {
    q = std::get<0>(at::linalg_qr(f.gram(q))).contiguous();
    comm.broadcast(q, 0);
  }
  at::Tensor t = at::mm(q.t(), f.gram(q));
  t = (t + t.t()) * 0.5;
  const auto [evals, evecs] = at::linalg_eigh(t);  // ascending
  at::Tensor v = at::mm(q, evecs.slice(1, width - rank, width)).contiguous();
  comm.broadcast(v, 0);
  res.info["sigma_max"] = std::sqrt(std::max(0.0, evals[width - 1].item<double>()));
  res.info["sigma_rank"] = std::sqrt(std::max(0.0, evals[width - rank].item<double>()));
  return v.to(at::kFloat);
}

// The block's train rows, item-major [I, e - b]: 1 where a user has an item.
at::Tensor history_block(const Local& l, const std::vector<int64_t>& ids, int64_t b, int64_t e) {
  const int64_t I = l.num_items;
  at::Tensor x = at::zeros({I, e - b}, at::kFloat);
  float* xp = x.data_ptr<float>();
  for (int64_t k = b; k < e; ++k) {
    const int64_t r = l.row_of(ids[k]);
    for (int64_t y = l.indptr[r]; y < l.indptr[r + 1]; ++y)
      xp[l.items[y] * (e - b) + (k - b)] = 1.f;
  }
  return x;
}

int64_t default_rank(const Options& o) {
  if (o.rank) return *o.rank;
  return o.method == "bspm" ? 448 : o.method == "chebycf" ? 512 : 256;
}

double default_alpha(const Options& o) {
  if (o.alpha) return *o.alpha;
  return o.method == "gfcf" ? 0.3 : 0.2;
}

}  // namespace

model::FilterSettings filter_settings(const Options& o) {
  model::FilterSettings s;
  s.kind = o.method;
  s.alpha = default_alpha(o);
  s.t_blur = o.t_blur;
  s.blur_steps = o.blur_steps;
  s.blur_solver = o.blur_solver;
  s.t_sharpen = o.t_sharpen;
  s.sharpen_steps = o.sharpen_steps;
  s.sharpen_solver = o.sharpen_solver;
  s.order = o.order;
  s.flatness = o.flatness;
  s.beta = o.beta;
  return s;
}

int64_t filter_rank(const Options& o) {
  return default_rank(o);
}

FilterMemory filter_memory(const Local& l, const Options& o, int ranks) {
  const double I = static_cast<double>(l.num_items);
  const double Ul = static_cast<double>(l.users.size());
  const double nnz = static_cast<double>(l.items.size());
  const double alpha = default_alpha(o);
  FilterMemory m;
  // R~ and its transpose (column, value; two indptrs), and the rows as
  // loaded (the shard's records, the binary rows and their transpose).
  m.graph = nnz * 2 * (8 + 4) + (Ul + I) * 8 + nnz * (20 + 16);
  if (alpha > 0 || o.method == "gfcf" || o.select_validation > 0) {
    const double width = std::min(I, static_cast<double>(default_rank(o) + o.oversample));
    // The subspace (double), its product and QR's factors, and under MPI
    // the all-reduce's buffers; the users' term of the product.
    m.basis = (ranks > 1 ? 6 : 4) * I * width * 8 + Ul * width * 8;
  }
  // A block of every rank's users (ranks x batch), gathered and transposed,
  // its users' term and the returned terms; the method's states over the
  // rank's own block (chebycf: the recurrence's three and its sum).
  const double b = static_cast<double>(o.batch_users);
  const double total = b * ranks;
  const double states = o.method == "chebycf" ? 6 : o.method == "bspm" ? 5 : 3;
  // The evaluator's block of scores and its ranking's copy.
  m.scoring =
      (ranks > 1 ? 4 * I * total : I * b) * 4 + Ul * total * 4 + states * I * b * 4 + 2 * I * b * 4;
  // The process itself (LibTorch, MPI, the dataset as read): ~300 MiB seen.
  m.graph += 300.0 * (1 << 20);
  return m;
}

FilterFit::FilterFit(Local& l, const Options& o, comm::Communicator& comm, Result& res, bool basis)
    : l_(l), f_(std::make_shared<Filtering>(l, comm)) {
  const int64_t rank = std::min(default_rank(o), l.num_items);
  res.info["rank"] = static_cast<double>(rank);
  if (basis) basis_ = low_pass_basis(*f_, rank, o, comm, res);
}

model::GraphFilter FilterFit::filter(const model::FilterSettings& s) const {
  model::GraphFilter g;
  g.settings = s;
  g.item_counts = f_->counts();
  if (s.alpha > 0) {
    HR_CHECK(basis_.defined(), "a filter with an ideal term from a fit without a basis");
    g.basis = basis_;
  }
  return g;
}

void FilterFit::low_pass_vectors(const model::FilterSettings& s) {
  // A user's x^T (left V), an item's alpha right V.
  const model::GraphFilter g = filter(s);
  at::Tensor left, right;
  model::low_pass_scalings(g, &left, &right);
  l_.user_vectors = model::low_pass_users(g, l_.indptr, l_.items);
  l_.item_vectors = basis_ * right * static_cast<float>(s.alpha);
}

train::Evaluator::ScoreFn FilterFit::scorer(const model::FilterSettings& s,
                                            const std::vector<int64_t>& ids) const {
  const model::GraphFilter g = filter(s);
  const Local& l = l_;
  std::shared_ptr<Filtering> f = f_;
  return [&l, &ids, f, g](int64_t b, int64_t e) {
    const at::Tensor x = history_block(l, ids, b, e);
    return model::filter_scores(g, x, [&](const at::Tensor& z) { return f->propagate(z); })
        .t()
        .contiguous();
  };
}

}  // namespace halorec::baseline

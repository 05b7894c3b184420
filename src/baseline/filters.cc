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

namespace {

int64_t default_rank(const Options& o) {
  return o.rank ? *o.rank : model::default_filter_rank(o.method);
}

double default_alpha(const Options& o) {
  return o.alpha ? *o.alpha : model::default_filter_alpha(o.method);
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
    : l_(l) {
  model::BasisOptions b;
  b.rank = std::min(default_rank(o), l.num_items);
  b.oversample = o.oversample;
  b.power_iters = o.power_iters;
  b.seed = o.seed;
  res.info["rank"] = static_cast<double>(b.rank);
  fit_ = std::make_shared<model::FilterFit>(l, comm, basis ? &b : nullptr, &res.info);
}

model::GraphFilter FilterFit::filter(const model::FilterSettings& s) const {
  return fit_->filter(s);
}

void FilterFit::low_pass_vectors(const model::FilterSettings& s) {
  // A user's x^T (left V), an item's alpha right V.
  const model::GraphFilter g = filter(s);
  at::Tensor left, right;
  model::low_pass_scalings(g, &left, &right);
  l_.user_vectors = model::low_pass_users(g, l_.indptr, l_.items);
  l_.item_vectors = fit_->basis() * right * static_cast<float>(s.alpha);
}

train::Evaluator::ScoreFn FilterFit::scorer(const model::FilterSettings& s,
                                            const std::vector<int64_t>& ids) const {
  std::shared_ptr<model::FilterFit> fit = fit_;
  return [fit, &ids, g = filter(s)](int64_t b, int64_t e) { return fit->scores(g, ids, b, e); };
}

}  // namespace halorec::baseline

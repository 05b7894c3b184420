#include "model/graph_filter.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/check.h"

namespace halorec::model {

namespace {

constexpr double kPi = 3.14159265358979323846;

// torch.round(decimals=3): half to even.
double round3(double x) {
  return std::nearbyint(x * 1000.0) / 1000.0;
}

// One step of length h of dx/dt = x A for a linear A: Euler, or the classic
// fourth-order Runge-Kutta, which for a linear, time-invariant A is exactly
// x (1 + hA + (hA)^2/2 + (hA)^3/6 + (hA)^4/24) (every 4-stage method of
// order 4 is; torchdiffeq's rk4, which BSPM's code uses, included).
template <typename F>
at::Tensor ode_step(const at::Tensor& x, F&& a, double h, const std::string& solver) {
  if (solver == "euler") return x + a(x) * h;
  at::Tensor term = x, sum = x.clone();
  for (int j = 1; j <= 4; ++j) {
    term = a(term) * (h / j);
    sum.add_(term);
  }
  return sum;
}

}  // namespace

at::Tensor degree_power(const at::Tensor& item_counts, double p) {
  const at::Tensor& n = item_counts;
  return at::where(n > 0, n.pow(p), at::zeros_like(n)).to(at::kFloat).unsqueeze(1);
}

void low_pass_scalings(const GraphFilter& f, at::Tensor* left, at::Tensor* right) {
  const double p = f.settings.kind == "chebycf" ? f.settings.beta : 0.5;
  *left = degree_power(f.item_counts, -p);
  *right = degree_power(f.item_counts, p);
}

at::Tensor low_pass_users(const GraphFilter& f, const std::vector<int64_t>& indptr,
                          const std::vector<int64_t>& items) {
  at::Tensor left, right;
  low_pass_scalings(f, &left, &right);
  const at::Tensor lv = (f.basis * left).contiguous();
  const int64_t r = lv.size(1);
  const int64_t n = static_cast<int64_t>(indptr.size()) - 1;
  at::Tensor users = at::zeros({n, r}, at::kFloat);
  float* up = users.data_ptr<float>();
  const float* vp = lv.data_ptr<float>();
  for (int64_t k = 0; k < n; ++k) {
    for (int64_t y = indptr[static_cast<size_t>(k)]; y < indptr[static_cast<size_t>(k) + 1]; ++y) {
      const float* row = vp + items[static_cast<size_t>(y)] * r;
      for (int64_t j = 0; j < r; ++j) up[k * r + j] += row[j];
    }
  }
  return users;
}

at::Tensor filter_scores(const GraphFilter& f, const at::Tensor& x, const Propagate& propagate) {
  const FilterSettings& s = f.settings;
  const bool ideal = s.alpha > 0;
  HR_CHECK(!ideal || f.basis.defined(), "a graph filter with alpha > 0 needs its basis");
  at::Tensor left, right;
  low_pass_scalings(f, &left, &right);
  // x left V V^T right: the ideal low-pass term before its weight.
  auto low_pass = [&](const at::Tensor& z) {
    return at::mm(f.basis, at::mm(f.basis.t(), z * left)) * right;
  };
  if (s.kind == "gfcf") {
    at::Tensor y = propagate(x);
    if (ideal) y.add_(low_pass(x), s.alpha);
    return y;
  }
  if (s.kind == "bspm") {
    at::Tensor y = x;
    const double hb = s.t_blur / static_cast<double>(s.blur_steps);
    for (int64_t k = 0; k < s.blur_steps; ++k) {
      y = ode_step(
          y, [&](const at::Tensor& z) { return propagate(z) - z; }, hb, s.blur_solver);
    }
    // One Euler step of length 1 of dx/dt = x (D^-1/2 V V^T D^1/2 - I), the
    // published setting of the ideal process, is the projection itself.
    if (ideal) y = y + low_pass(x) * s.alpha;
    const double hs = s.t_sharpen / static_cast<double>(s.sharpen_steps);
    for (int64_t k = 0; k < s.sharpen_steps; ++k) {
      y = ode_step(
          y, [&](const at::Tensor& z) { return -propagate(z); }, hs, s.sharpen_solver);
    }
    return y;
  }
  HR_CHECK(s.kind == "chebycf", "unknown graph filter '{}'", s.kind);
  const std::vector<double> c = chebycf_coefficients(s.order, s.flatness);
  const at::Tensor xn = x * left;
  auto lap = [&](const at::Tensor& z) { return z - propagate(z) * 2.0; };
  at::Tensor sum = xn * c[0];
  at::Tensor prev = xn, cur;
  if (c.size() > 1) {
    cur = lap(xn);
    sum.add_(cur, c[1]);
  }
  for (size_t k = 2; k < c.size(); ++k) {
    at::Tensor next = lap(cur) * 2.0 - prev;
    sum.add_(next, c[k]);
    prev = std::move(cur);
    cur = std::move(next);
  }
  if (ideal) sum.add_(at::mm(f.basis, at::mm(f.basis.t(), xn)), s.alpha);
  return sum * right;
}

std::vector<double> chebycf_coefficients(int64_t order, double flatness) {
  const int64_t K = order;
  HR_CHECK(K >= 1, "chebycf needs order >= 1, got {}", K);
  std::vector<double> target(static_cast<size_t>(K + 1));
  for (int64_t j = 0; j <= K; ++j) {
    const double x = round3(std::cos(static_cast<double>(K - j) / static_cast<double>(K) * kPi));
    const double h = x < 0 ? 0.5 + 0.5 * std::pow(-x, flatness) : 0.5 - 0.5 * std::pow(x, flatness);
    target[static_cast<size_t>(j)] = round3(h);
  }
  std::vector<double> c(static_cast<size_t>(K + 1), 0.0);
  for (int64_t n = 1; n <= K + 1; ++n) {
    const double node = std::cos((static_cast<double>(K + 1) + 0.5 - static_cast<double>(n)) /
                                 static_cast<double>(K + 1) * kPi);
    double before = 0, t = 1;  // T_{k-1}(node), T_k(node)
    for (int64_t k = 0; k <= K; ++k) {
      c[static_cast<size_t>(k)] += t * target[static_cast<size_t>(n - 1)];
      const double next = k == 0 ? node : 2 * node * t - before;
      before = t;
      t = next;
    }
  }
  for (double& v : c) v *= 2.0 / static_cast<double>(K + 1);
  c[0] /= 2;
  return c;
}

std::vector<float> normalized_values(const std::vector<int64_t>& indptr,
                                     const std::vector<int64_t>& items,
                                     const at::Tensor& item_counts) {
  const at::Tensor counts = item_counts.to(at::kDouble).contiguous();
  const double* np = counts.data_ptr<double>();
  std::vector<float> val(items.size());
  for (size_t k = 0; k + 1 < indptr.size(); ++k) {
    const double du =
        1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(1, indptr[k + 1] - indptr[k])));
    for (int64_t y = indptr[k]; y < indptr[k + 1]; ++y) {
      val[static_cast<size_t>(y)] = static_cast<float>(du / std::sqrt(np[items[y]]));
    }
  }
  return val;
}

namespace {

at::Tensor standardized(const at::Tensor& x) {
  const at::Tensor c = x - x.mean(1, true);
  const at::Tensor var = (c * c).mean(1, true);
  // A constant row (var 0) stays 0 rather than dividing by 0.
  return c * at::where(var > 0, var.rsqrt(), at::zeros_like(var));
}

}  // namespace

at::Tensor mix_scores(const at::Tensor& filter, const at::Tensor& learned, double mix) {
  HR_CHECK(filter.dim() == 2 && filter.sizes() == learned.sizes(),
           "mixing scores of {} and {} values", filter.numel(), learned.numel());
  if (mix <= 0) return standardized(filter);
  if (mix >= 1) return standardized(learned);
  return standardized(filter).mul_(static_cast<float>(1 - mix))
      .add_(standardized(learned), static_cast<float>(mix));
}

}  // namespace halorec::model

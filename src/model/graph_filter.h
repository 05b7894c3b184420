#pragma once
// Graph filters over the normalized interaction matrix R~ = D_u^-1/2 R
// D_i^-1/2 (GF-CF, BSPM, ChebyCF; docs/baselines.md): each scores a user's
// history x (their 0/1 row of R) as a polynomial in P = R~^T R~ applied to x
// plus an ideal low-pass term over the top singular vectors V of R~. One
// definition for `halorec baseline` (P applied over every rank's users) and
// for serving a filter's model.h5 (P applied in one process).

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace halorec::model {

struct FilterSettings {
  std::string kind;  // gfcf | bspm | chebycf
  double alpha = 0;  // weight of the ideal low-pass term (0: none)
  // bspm: blurring dx/dt = x (P - I) over t_blur, then sharpening
  // dx/dt = -x P over t_sharpen, each in its steps (euler | rk4).
  double t_blur = 1;
  int64_t blur_steps = 1;
  std::string blur_solver = "euler";
  double t_sharpen = 2.5;
  int64_t sharpen_steps = 1;
  std::string sharpen_solver = "rk4";
  // chebycf: order and flatness of the Chebyshev plateau, power of the
  // degree normalization.
  int64_t order = 8;
  double flatness = 1.5;
  double beta = 0.4;
};

struct GraphFilter {
  FilterSettings settings;
  at::Tensor item_counts;  // [I] double: train users of each item, n_i
  at::Tensor basis;        // [I, r] float: V (undefined when alpha is 0)
};

// x P for signals x, item-major [I, b] float (one column per history).
using Propagate = std::function<at::Tensor(const at::Tensor&)>;

// The filter's scores of histories x (item-major [I, b], 0/1), item-major
// [I, b]:
//   gfcf    x P + alpha x D^-1/2 V V^T D^1/2
//   bspm    blur x, add alpha x D^-1/2 V V^T D^1/2, sharpen
//   chebycf (sum_k c_k T_k(L~) x~ + alpha x~ V V^T) D^beta, x~ = x D^-beta,
//           L~ = I - 2P
// D = diag(n_i) (items nobody has: 0). Calls `propagate` once (gfcf), blur
// and sharpening steps times the solver's stages (bspm), order times
// (chebycf).
at::Tensor filter_scores(const GraphFilter& f, const at::Tensor& x, const Propagate& propagate);

// The ideal low-pass term as vectors: a user's is x^T (left * V), an item's
// alpha * right * V (left, right: [I, 1]; D^-1/2 and D^1/2, or chebycf's
// D^-beta and D^beta), so their dot product is the term's score.
void low_pass_scalings(const GraphFilter& f, at::Tensor* left, at::Tensor* right);

// The users' vectors of that term for binary rows (CSR over items): row k is
// the sum of left * V over its items. [rows, r] float.
at::Tensor low_pass_users(const GraphFilter& f, const std::vector<int64_t>& indptr,
                          const std::vector<int64_t>& items);

// n_i^p, 0 where n_i is 0: [I, 1] float, scaling item-major signals.
at::Tensor degree_power(const at::Tensor& item_counts, double p);

// ChebyCF's filter: the Chebyshev interpolant of order K of a plateau
// h(x) = 1/2 + 1/2 (-x)^phi (x < 0), 1/2 - 1/2 x^phi (x >= 0) on the spectrum
// [-1, 1] of L~, as the published code builds it (the plateau's values at
// the K + 1 points cos((K - j) pi / K), rounded to 3 decimals, interpolated
// at the Chebyshev nodes). Coefficients c_0..c_K of T_k(L~).
std::vector<double> chebycf_coefficients(int64_t order, double flatness);

// A hybrid's scores (model.filter): each part standardized over the items of
// its row (mean 0, variance 1; a constant row becomes 0), then
// (1 - mix) z(filter) + mix z(learned). filter, learned: [n, I] float.
at::Tensor mix_scores(const at::Tensor& filter, const at::Tensor& learned, double mix);

// R~'s values for binary rows (CSR over items): 1 / sqrt(n_u n_i).
std::vector<float> normalized_values(const std::vector<int64_t>& indptr,
                                     const std::vector<int64_t>& items,
                                     const at::Tensor& item_counts);

}  // namespace halorec::model

#include "train/adam.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>

namespace halorec::train {

namespace {

// The update of n consecutive float elements, one pass over memory (CPU).
struct FusedUpdate {
  float b1, b2, step_size, inv_sqrt_c2, eps;
  void operator()(float* p, float* m, float* v, const float* g, int64_t n) const {
    for (int64_t i = 0; i < n; ++i) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_c2 + eps);
    }
  }
};

}  // namespace

Adam::Adam(std::vector<at::Tensor> params, double lr, double beta1, double beta2, double eps)
    : params_(std::move(params)), lr_(lr), beta1_(beta1), beta2_(beta2), eps_(eps) {
  for (const at::Tensor& p : params_) {
    m_.push_back(at::zeros_like(p).detach());
    v_.push_back(at::zeros_like(p).detach());
  }
}

void Adam::step_rows(at::Tensor p, at::Tensor m, at::Tensor v, const at::Tensor& rows,
                     const at::Tensor& grad, double step_size, double inv_sqrt_c2) const {
  if (rows.numel() == 0) return;
  if (p.is_cuda() || p.scalar_type() != at::kFloat || !p.is_contiguous() || !grad.is_contiguous() ||
      p.dim() != 2) {
    const at::Tensor g = grad.reshape({rows.numel(), -1});
    at::Tensor pm = p.view({p.size(0), -1}), mm = m.view({p.size(0), -1}),
               vm = v.view({p.size(0), -1});
    const at::Tensor mr = mm.index_select(0, rows).mul_(beta1_).add_(g, 1 - beta1_);
    const at::Tensor vr = vm.index_select(0, rows).mul_(beta2_).addcmul_(g, g, 1 - beta2_);
    const at::Tensor denom = (vr.sqrt() * inv_sqrt_c2).add_(eps_);
    mm.index_copy_(0, rows, mr);
    vm.index_copy_(0, rows, vr);
    pm.index_copy_(0, rows, pm.index_select(0, rows).addcdiv_(mr, denom, -step_size));
    return;
  }
  const at::Tensor r = rows.contiguous();
  const int64_t* rp = r.data_ptr<int64_t>();
  const int64_t d = p.size(1);
  float* pp = p.data_ptr<float>();
  const float* gp = grad.data_ptr<float>();
  float* mp = m.data_ptr<float>();
  float* vp = v.data_ptr<float>();
  const FusedUpdate update{static_cast<float>(beta1_), static_cast<float>(beta2_),
                           static_cast<float>(step_size), static_cast<float>(inv_sqrt_c2),
                           static_cast<float>(eps_)};
  at::parallel_for(0, r.numel(), std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, d)),
                   [&](int64_t begin, int64_t end) {
                     for (int64_t k = begin; k < end; ++k) {
                       const int64_t base = rp[k] * d;
                       update(pp + base, mp + base, vp + base, gp + k * d, d);
                     }
                   });
}

void Adam::zero_grad() {
  for (at::Tensor& p : params_) {
    if (p.grad().defined()) p.mutable_grad().zero_();
  }
}

void Adam::step(const at::Tensor& rows, const at::Tensor& grad) {
  ++t_;
  const double c1 = 1.0 - std::pow(beta1_, static_cast<double>(t_));
  const double c2 = 1.0 - std::pow(beta2_, static_cast<double>(t_));
  const double step_size = lr_ / c1;
  const double inv_sqrt_c2 = 1.0 / std::sqrt(c2);
  at::NoGradGuard no_grad;
  for (size_t k = 0; k < params_.size(); ++k) {
    if (k == 0 && rows.defined()) {
      step_rows(params_[0].detach(), m_[0], v_[0], rows, grad, step_size, inv_sqrt_c2);
      continue;
    }
    at::Tensor p = params_[k].detach();
    at::Tensor g = params_[k].grad().defined() ? params_[k].grad() : at::zeros_like(p);
    if (p.is_cuda() || p.scalar_type() != at::kFloat || !p.is_contiguous() || !g.is_contiguous()) {
      m_[k].mul_(beta1_).add_(g, 1 - beta1_);
      v_[k].mul_(beta2_).addcmul_(g, g, 1 - beta2_);
      const at::Tensor denom = (v_[k].sqrt() * inv_sqrt_c2).add_(eps_);
      p.addcdiv_(m_[k], denom, -step_size);
      continue;
    }
    // One fused pass over memory on CPU.
    float* pp = p.data_ptr<float>();
    const float* gp = g.data_ptr<float>();
    float* mp = m_[k].data_ptr<float>();
    float* vp = v_[k].data_ptr<float>();
    const FusedUpdate update{static_cast<float>(beta1_), static_cast<float>(beta2_),
                             static_cast<float>(step_size), static_cast<float>(inv_sqrt_c2),
                             static_cast<float>(eps_)};
    at::parallel_for(0, p.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
      update(pp + begin, mp + begin, vp + begin, gp + begin, end - begin);
    });
  }
}

}  // namespace halorec::train

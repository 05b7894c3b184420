#pragma once
// Adam (Kingma & Ba) as in torch.optim.Adam without weight decay (L2 is in the
// loss): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace halorec::train {

class Adam {
 public:
  Adam(std::vector<at::Tensor> params, double lr, double beta1 = 0.9, double beta2 = 0.999,
       double eps = 1e-8);
  // Applies one update from each parameter's .grad() (a missing grad counts as zero).
  // With `rows` defined, parameter 0 is updated lazily: only its rows `rows`
  // (int64, distinct), from `grad` ([rows, ...]) instead of its .grad(); the
  // other rows keep their moments (LazyAdam, as for sparse embeddings).
  void step(const at::Tensor& rows = {}, const at::Tensor& grad = {});
  void zero_grad();
  int64_t steps() const { return t_; }
  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  void set_steps(int64_t t) { t_ = t; }
  std::vector<at::Tensor>& exp_avg() { return m_; }
  std::vector<at::Tensor>& exp_avg_sq() { return v_; }

 private:
  void step_rows(at::Tensor p, at::Tensor m, at::Tensor v, const at::Tensor& rows,
                 const at::Tensor& grad, double step_size, double inv_sqrt_c2) const;

  std::vector<at::Tensor> params_, m_, v_;
  double lr_, beta1_, beta2_, eps_;
  int64_t t_ = 0;
};

}  // namespace halorec::train

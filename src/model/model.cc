#include "model/model.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>

#include "comm/row_exchange.h"
#include "core/check.h"
#include "core/counter_rng.h"
#include "model/dropout_mask.h"

namespace halorec::model {

namespace {

class Mf : public Model {
 public:
  explicit Mf(const ModelConfig& c) : dim_(c.dim) {}
  at::Tensor forward(const at::Tensor& e0, int64_t, bool) override { return e0; }
  at::Tensor forward_blocks(const at::Tensor& h0, const Blocks& b, const at::Tensor&, int64_t,
                            bool) override {
    return h0.slice(0, 0, b.sizes.back());
  }
  int64_t output_dim() const override { return dim_; }

 private:
  int64_t dim_;
};

class LightGcn : public Model {
 public:
  LightGcn(const ModelConfig& c, const ShardContext& s) : c_(c), s_(s) {}
  at::Tensor forward(const at::Tensor& e0, int64_t, bool) override {
    if (!at::GradMode::is_enabled() && c_.layers > 0) return forward_lean(e0);
    at::Tensor h = e0;
    at::Tensor sum = e0;
    for (int64_t l = 0; l < c_.layers; ++l) {
      h = spmm(*s_.graph, comm::halo_exchange(h, *s_.halo, *s_.comm));
      sum = sum + h;
    }
    return c_.layers == 0 ? e0 : sum / static_cast<double>(c_.layers + 1);
  }
  at::Tensor forward_blocks(const at::Tensor& h0, const Blocks& b, const at::Tensor&, int64_t,
                            bool) override {
    HR_CHECK_EQ(static_cast<int64_t>(b.graphs.size()), c_.layers);
    const int64_t targets = b.sizes.back();
    at::Tensor h = h0;
    at::Tensor sum = h0.slice(0, 0, targets);
    for (int64_t l = 1; l <= c_.layers; ++l) {
      h = spmm(b.graphs[static_cast<size_t>(l - 1)], h);
      sum = sum + h.slice(0, 0, targets);
    }
    return c_.layers == 0 ? sum : sum / static_cast<double>(c_.layers + 1);
  }
  int64_t output_dim() const override { return c_.dim; }
  std::vector<at::Tensor> layer_outputs(const at::Tensor& e0) override {
    std::vector<at::Tensor> out{e0};
    for (int64_t l = 0; l < c_.layers; ++l) out.push_back(propagate(out.back()));
    return out;
  }

 private:
  // Without autograd (evaluation, export): the same arithmetic with the
  // layers summed in place and each layer's [owned; halo] input freed before
  // the next, so the peak is about 4 owned + 2 halo rows per node instead of
  // one tensor per intermediate.
  at::Tensor forward_lean(const at::Tensor& e0) const {
    at::Tensor sum = e0.clone();
    at::Tensor h = e0;
    for (int64_t l = 0; l < c_.layers; ++l) {
      h = propagate(h);
      sum.add_(h);
    }
    return sum.div_(static_cast<double>(c_.layers + 1));
  }

  // One layer without autograd: the owned rows of A [h; halo of h], the
  // [owned; halo] input freed on return.
  at::Tensor propagate(const at::Tensor& h) const {
    const int64_t owned = h.size(0);
    at::Tensor x = at::empty({s_.graph->num_cols, h.size(1)}, h.options());
    x.slice(0, 0, owned).copy_(h);
    x.slice(0, owned).copy_(comm::exchange_rows(h, *s_.halo, *s_.comm));
    return spmm_forward(s_.graph->indptr, s_.graph->col, s_.graph->val, s_.graph->num_rows, x);
  }

  ModelConfig c_;
  ShardContext s_;
};

}  // namespace

at::Tensor xavier(int64_t rows, int64_t cols, uint64_t seed, uint64_t tag,
                  const at::TensorOptions& options) {
  at::Tensor w = at::empty({rows, cols}, at::kFloat);
  float* p = w.data_ptr<float>();
  const double a = std::sqrt(6.0 / static_cast<double>(rows + cols));
  CounterRng rng(hash_key(seed, 0x4e47u, tag));
  for (int64_t k = 0; k < rows * cols; ++k) p[k] = static_cast<float>((2 * rng.uniform() - 1) * a);
  return w.to(options);
}

namespace {

class Ngcf : public Model {
 public:
  Ngcf(const ModelConfig& c, const ShardContext& s, const at::TensorOptions& o) : c_(c), s_(s) {
    for (int64_t l = 0; l < c.layers; ++l) {
      w1_.push_back(xavier(c.dim, c.dim, c.seed, 4 * l, o).requires_grad_(true));
      b1_.push_back(xavier(1, c.dim, c.seed, 4 * l + 1, o).requires_grad_(true));
      w2_.push_back(xavier(c.dim, c.dim, c.seed, 4 * l + 2, o).requires_grad_(true));
      b2_.push_back(xavier(1, c.dim, c.seed, 4 * l + 3, o).requires_grad_(true));
    }
  }

  at::Tensor forward(const at::Tensor& e0, int64_t step, bool training) override {
    std::vector<at::Tensor> outs = {e0};
    at::Tensor h = e0;
    for (int64_t l = 0; l < c_.layers; ++l) {
      const at::Tensor side = spmm(*s_.graph, comm::halo_exchange(h, *s_.halo, *s_.comm));
      h = layer(l, side, h, s_.owned_ids, step, training);
      outs.push_back(unit_rows(h));
    }
    return at::cat(outs, 1);
  }

  at::Tensor forward_blocks(const at::Tensor& h0, const Blocks& b, const at::Tensor& node_ids,
                            int64_t step, bool training) override {
    HR_CHECK_EQ(static_cast<int64_t>(b.graphs.size()), c_.layers);
    const int64_t targets = b.sizes.back();
    std::vector<at::Tensor> outs = {h0.slice(0, 0, targets)};
    at::Tensor h = h0;
    for (int64_t l = 0; l < c_.layers; ++l) {
      const int64_t rows = b.sizes[static_cast<size_t>(l + 1)];
      const at::Tensor side = spmm(b.graphs[static_cast<size_t>(l)], h);
      h = layer(l, side, h.slice(0, 0, rows), node_ids.slice(0, 0, rows), step, training);
      outs.push_back(unit_rows(h.slice(0, 0, targets)));
    }
    return at::cat(outs, 1);
  }

  std::vector<at::Tensor> dense_parameters() override {
    std::vector<at::Tensor> p;
    for (int64_t l = 0; l < c_.layers; ++l) {
      for (const at::Tensor& t : {w1_[l], b1_[l], w2_[l], b2_[l]}) p.push_back(t);
    }
    return p;
  }
  int64_t output_dim() const override { return c_.dim * (c_.layers + 1); }

 private:
  // Layer l+1 of the rows `self` (node ids `ids`) from their neighbour sums
  // `side`: LeakyReLU((side + self) W1 + (side * self) W2), message dropout.
  at::Tensor layer(int64_t l, const at::Tensor& side, const at::Tensor& self, const at::Tensor& ids,
                   int64_t step, bool training) const {
    const at::Tensor sum = at::addmm(b1_[l], side + self, w1_[l]);
    const at::Tensor bi = at::addmm(b2_[l], side * self, w2_[l]);
    at::Tensor h = at::leaky_relu(sum + bi, 0.2);
    if (training && c_.dropout > 0) h = h * dropout_mask(ids, step, l, h.options());
    return h;
  }
  static at::Tensor unit_rows(const at::Tensor& h) {
    return h / h.norm(2, {1}, true).clamp_min(1e-12);
  }

  // Keep each element with probability 1 - p, scaled by 1 / (1 - p); element
  // (node, j) of layer l at step s depends only on (seed, s, l, node, j).
  at::Tensor dropout_mask(const at::Tensor& ids, int64_t step, int64_t layer,
                          const at::TensorOptions& o) const {
    const uint64_t key =
        hash_key(c_.seed, static_cast<uint64_t>(step), static_cast<uint64_t>(layer));
    return model::dropout_mask(ids, c_.dim, key, c_.dropout).to(o);
  }

  ModelConfig c_;
  ShardContext s_;
  std::vector<at::Tensor> w1_, b1_, w2_, b2_;
};

}  // namespace

std::unique_ptr<Model> make_model(const ModelConfig& c, const ShardContext& s,
                                  const at::TensorOptions& options) {
  if (c.type == "mf") return std::make_unique<Mf>(c);
  if (c.type == "lightgcn") return std::make_unique<LightGcn>(c, s);
  if (c.type == "ngcf") return std::make_unique<Ngcf>(c, s, options);
  HR_THROW(ConfigError, "model.type: '{}' is not mf, lightgcn or ngcf", c.type);
}

at::Tensor initial_vectors(const std::vector<int64_t>& ids, int64_t dim, uint64_t seed) {
  at::Tensor e = at::empty({static_cast<int64_t>(ids.size()), dim}, at::kFloat);
  float* p = e.data_ptr<float>();
  for (size_t r = 0; r < ids.size(); ++r) {
    CounterRng rng(hash_key(seed, 0x454du, static_cast<uint64_t>(ids[r])));
    for (int64_t j = 0; j < dim; j += 2) {  // Box-Muller, two normals per draw pair
      const double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();
      const double radius = 0.1 * std::sqrt(-2.0 * std::log(u1));
      p[r * dim + j] = static_cast<float>(radius * std::cos(2 * M_PI * u2));
      if (j + 1 < dim) p[r * dim + j + 1] = static_cast<float>(radius * std::sin(2 * M_PI * u2));
    }
  }
  return e;
}

}  // namespace halorec::model

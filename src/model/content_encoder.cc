#include "model/content_encoder.h"

#include <ATen/ATen.h>

#include "core/check.h"

namespace halorec::model {

ContentMode parse_content_mode(const std::string& s) {
  if (s == "add") return ContentMode::kAdd;
  if (s == "concat") return ContentMode::kConcat;
  if (s == "only") return ContentMode::kOnly;
  HR_THROW(ConfigError, "model.features: '{}' is not add, concat or only", s);
}

ContentEncoder::ContentEncoder(const ContentConfig& c, const at::TensorOptions& o) : c_(c) {
  int64_t in = c.feature_dim + (c.mode == ContentMode::kConcat ? c.dim : 0);
  std::vector<int64_t> outs = c.widths;
  outs.push_back(c.dim);
  for (size_t l = 0; l < outs.size(); ++l) {
    // Tags from 0x100: apart from NGCF's weights.
    w_.push_back(xavier(in, outs[l], c.seed, c.tag + 2 * l, o).requires_grad_(true));
    b_.push_back(at::zeros({outs[l]}, o).requires_grad_(true));
    in = outs[l];
  }
}

at::Tensor ContentEncoder::fuse(const at::Tensor& e0_rows, const at::Tensor& features) const {
  at::Tensor h = c_.mode == ContentMode::kConcat ? at::cat({e0_rows, features}, 1) : features;
  for (size_t l = 0; l < w_.size(); ++l) {
    h = at::addmm(b_[l], h, w_[l]);
    if (l + 1 < w_.size()) h = at::relu(h);
  }
  return c_.mode == ContentMode::kAdd ? e0_rows + h : h;
}

std::vector<at::Tensor> ContentEncoder::parameters() const {
  std::vector<at::Tensor> p;
  for (size_t l = 0; l < w_.size(); ++l) {
    p.push_back(w_[l]);
    p.push_back(b_[l]);
  }
  return p;
}

namespace {

class WithContent : public Model {
 public:
  WithContent(std::unique_ptr<Model> inner, std::vector<ContentGroup> groups,
              const at::TensorOptions& o)
      : inner_(std::move(inner)), groups_(std::move(groups)) {
    for (const ContentGroup& g : groups_) encoders_.emplace_back(g.config, o);
  }
  at::Tensor forward(const at::Tensor& e0, int64_t step, bool training) override {
    return inner_->forward(layer0(e0), step, training);
  }
  // A group without rows on this rank leaves its encoder's gradients zero
  // here (the all-reduce fills in what other ranks computed).
  at::Tensor layer0(const at::Tensor& e0) override {
    at::Tensor x0 = e0;
    for (size_t k = 0; k < groups_.size(); ++k) {
      const ContentGroup& g = groups_[k];
      if (g.rows.numel() == 0) continue;
      x0 = x0.index_copy(0, g.rows, encoders_[k].fuse(e0.index_select(0, g.rows), g.features));
    }
    return x0;
  }
  bool fuses_layer0() const override { return true; }
  at::Tensor forward_blocks(const at::Tensor& h0, const Blocks& b, const at::Tensor& node_ids,
                            int64_t step, bool training) override {
    return inner_->forward_blocks(h0, b, node_ids, step, training);
  }
  std::vector<at::Tensor> dense_parameters() override {
    std::vector<at::Tensor> p = inner_->dense_parameters();
    for (const ContentEncoder& e : encoders_) {
      for (const at::Tensor& t : e.parameters()) p.push_back(t);
    }
    return p;
  }
  int64_t output_dim() const override { return inner_->output_dim(); }

 private:
  std::unique_ptr<Model> inner_;
  std::vector<ContentGroup> groups_;
  std::vector<ContentEncoder> encoders_;
};

}  // namespace

std::unique_ptr<Model> with_content(std::unique_ptr<Model> inner, std::vector<ContentGroup> groups,
                                    const at::TensorOptions& options) {
  return std::make_unique<WithContent>(std::move(inner), std::move(groups), options);
}

}  // namespace halorec::model

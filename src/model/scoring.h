#pragma once
// The vectors a model's scores are dot products of: its final vectors
// themselves, or their rows scaled to unit length for model.score cosine.
// One definition for training's losses, its evaluation and the export.

#include <ATen/core/Tensor.h>

namespace halorec::model {

at::Tensor scoring_vectors(const at::Tensor& final, bool cosine);

}  // namespace halorec::model

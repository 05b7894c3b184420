#include "model/scoring.h"

#include <ATen/ATen.h>

namespace halorec::model {

at::Tensor scoring_vectors(const at::Tensor& final, bool cosine) {
  if (!cosine) return final;
  return final / final.norm(2, {1}, true).clamp_min(1e-12);
}

}  // namespace halorec::model

#pragma once
// Message-dropout masks that depend only on (key, node id, column): the same
// mask whichever rank owns the node and whichever device computes it.

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace halorec::model {

// An (ids.numel(), d) float mask on `ids`' device: element (r, j) is 0 with
// probability p and 1 / (1 - p) otherwise, decided by
// mix64(hash_key(key, ids[r]) + j) < p * 2^64. On CPU a host loop computes it;
// on other devices the same arithmetic runs as int64 tensor operations
// (wrapping multiplication is uint64 arithmetic), so nothing crosses to the
// host.
at::Tensor dropout_mask(const at::Tensor& ids, int64_t d, uint64_t key, double p);

// The tensor-operation path on any device (for tests: on CPU it must give the
// host loop's mask bit for bit).
at::Tensor dropout_mask_tensor_ops(const at::Tensor& ids, int64_t d, uint64_t key, double p);

}  // namespace halorec::model

#include "model/dropout_mask.h"

#include <ATen/ATen.h>

#include <limits>

#include "core/counter_rng.h"

namespace halorec::model {

namespace {

constexpr int64_t as_signed(uint64_t x) {
  return static_cast<int64_t>(x);
}

// Logical right shift of int64 lanes holding uint64 values.
at::Tensor shift_right(const at::Tensor& x, int s) {
  return at::bitwise_and(at::bitwise_right_shift(x, s), as_signed((uint64_t{1} << (64 - s)) - 1));
}

// mix64 (core/counter_rng.h) on int64 lanes.
at::Tensor mix64_lanes(at::Tensor x) {
  x = x + as_signed(0x9e3779b97f4a7c15ULL);
  x = at::bitwise_xor(x, shift_right(x, 30)) * as_signed(0xbf58476d1ce4e5b9ULL);
  x = at::bitwise_xor(x, shift_right(x, 27)) * as_signed(0x94d049bb133111ebULL);
  return at::bitwise_xor(x, shift_right(x, 31));
}

uint64_t threshold_of(double p) {
  return static_cast<uint64_t>(p * 18446744073709551616.0);
}

}  // namespace

at::Tensor dropout_mask_tensor_ops(const at::Tensor& ids, int64_t d, uint64_t key, double p) {
  const float keep = static_cast<float>(1.0 / (1.0 - p));
  // hash_key(key, id) = mix64(mix64(key) ^ id).
  const at::Tensor row_key = mix64_lanes(at::bitwise_xor(ids.to(at::kLong), as_signed(mix64(key))));
  const at::Tensor cols = at::arange(d, ids.options().dtype(at::kLong));
  const at::Tensor bits = mix64_lanes(row_key.unsqueeze(1) + cols.unsqueeze(0));
  // Unsigned bits < threshold, compared as signed after flipping the top bit.
  constexpr int64_t kTop = std::numeric_limits<int64_t>::min();
  const at::Tensor dropped = at::bitwise_xor(bits, kTop).lt(as_signed(threshold_of(p)) ^ kTop);
  return at::where(dropped, at::zeros({}, ids.options().dtype(at::kFloat)),
                   at::full({}, keep, ids.options().dtype(at::kFloat)));
}

at::Tensor dropout_mask(const at::Tensor& ids, int64_t d, uint64_t key, double p) {
  if (!ids.is_cpu()) return dropout_mask_tensor_ops(ids, d, key, p);
  const at::Tensor id_t = ids.to(at::kLong).contiguous();
  const int64_t n = id_t.numel();
  at::Tensor mask = at::empty({n, d}, at::kFloat);
  float* m = mask.data_ptr<float>();
  const int64_t* id = id_t.data_ptr<int64_t>();
  const float keep = static_cast<float>(1.0 / (1.0 - p));
  const uint64_t threshold = threshold_of(p);
  for (int64_t r = 0; r < n; ++r) {
    const uint64_t row_key = hash_key(key, static_cast<uint64_t>(id[r]));
    for (int64_t j = 0; j < d; ++j) {
      m[r * d + j] = mix64(row_key + static_cast<uint64_t>(j)) < threshold ? 0.0f : keep;
    }
  }
  return mask;
}

}  // namespace halorec::model

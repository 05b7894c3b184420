#pragma once
// Counter-based random numbers: every draw is a pure function of a key, so
// results do not depend on how work is split across ranks or threads.

#include <cstdint>

namespace halorec {

// SplitMix64 finalizer: a bijective 64-bit mix with good avalanche.
inline constexpr uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline constexpr uint64_t hash_key(uint64_t a, uint64_t b) { return mix64(mix64(a) ^ b); }
inline constexpr uint64_t hash_key(uint64_t a, uint64_t b, uint64_t c) {
  return mix64(hash_key(a, b) ^ c);
}

// A stream of draws for one key: draw i is mix64(key, i).
class CounterRng {
 public:
  explicit constexpr CounterRng(uint64_t key) : key_(mix64(key)) {}
  constexpr uint64_t next() { return mix64(key_ ^ mix64(counter_++)); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform in [0, n), n > 0, by 128-bit multiply (Lemire) without rejection;
  // the bias is below n / 2^64.
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }

 private:
  uint64_t key_;
  uint64_t counter_ = 0;
};

}  // namespace halorec

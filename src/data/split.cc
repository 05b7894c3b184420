#include "data/split.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "core/check.h"
#include "core/counter_rng.h"

namespace halorec::data {

std::string SplitSpec::to_string() const {
  switch (kind) {
    case Kind::kGiven: return "given";
    case Kind::kRandom: return fmt::format("random:{}", ratio);
    case Kind::kTemporal: return fmt::format("temporal:{}", last);
    default: return "none";
  }
}

SplitSpec parse_split(const std::string& value) {
  SplitSpec s;
  if (value == "none") return s;
  const size_t colon = value.find(':');
  const std::string kind = value.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : value.substr(colon + 1);
  try {
    size_t used = 0;
    if (kind == "random") {
      s.kind = SplitSpec::Kind::kRandom;
      s.ratio = std::stod(arg, &used);
      if (used == arg.size() && s.ratio > 0.0 && s.ratio < 1.0) return s;
    } else if (kind == "temporal") {
      s.kind = SplitSpec::Kind::kTemporal;
      s.last = std::stoll(arg, &used);
      if (used == arg.size() && s.last >= 1) return s;
    }
  } catch (const std::exception&) {
  }
  HR_THROW(UsageError,
           "--split '{}': expected random:R with 0 < R < 1, temporal:N with N >= 1, or none",
           value);
}

void split_per_user(const SplitSpec& spec, uint64_t seed, Interactions* all,
                    Interactions* test) {
  test->has_time = all->has_time;
  if (spec.kind != SplitSpec::Kind::kRandom && spec.kind != SplitSpec::Kind::kTemporal) return;
  HR_CHECK(spec.kind != SplitSpec::Kind::kTemporal || all->has_time,
           "temporal split without times");
  all->sort();
  std::vector<bool> to_test(all->size(), false);
  std::vector<int64_t> idx;
  size_t begin = 0;
  while (begin < all->size()) {
    size_t end = begin;
    while (end < all->size() && all->user[end] == all->user[begin]) ++end;
    const int64_t n = static_cast<int64_t>(end - begin);
    idx.resize(static_cast<size_t>(n));
    std::iota(idx.begin(), idx.end(), static_cast<int64_t>(begin));
    int64_t n_test = 0;
    if (spec.kind == SplitSpec::Kind::kRandom) {
      n_test = std::min<int64_t>(n - 1, std::llround(spec.ratio * static_cast<double>(n)));
      CounterRng rng(hash_key(seed, 0x5350u, static_cast<uint64_t>(all->user[begin])));
      for (int64_t k = n - 1; k > 0; --k) {  // Fisher-Yates
        std::swap(idx[static_cast<size_t>(k)],
                  idx[static_cast<size_t>(rng.below(static_cast<uint64_t>(k + 1)))]);
      }
    } else {
      n_test = std::min<int64_t>(n - 1, spec.last);
      std::stable_sort(idx.begin(), idx.end(),
                       [&](int64_t a, int64_t b) { return all->time[a] < all->time[b]; });
    }
    for (int64_t k = n - n_test; k < n; ++k) to_test[static_cast<size_t>(idx[k])] = true;
    begin = end;
  }
  for (size_t r = 0; r < all->size(); ++r) {
    if (to_test[r]) test->push(all->user[r], all->item[r], all->weight[r],
                               all->has_time ? all->time[r] : 0);
  }
  std::vector<bool> keep(to_test.size());
  for (size_t r = 0; r < keep.size(); ++r) keep[r] = !to_test[r];
  all->keep(keep);
}

Interactions carve_validation(double fraction, uint64_t seed, Interactions* train) {
  Interactions validation;
  SplitSpec carve;
  carve.kind = SplitSpec::Kind::kRandom;
  carve.ratio = fraction;
  split_per_user(carve, seed, train, &validation);
  return validation;
}

}  // namespace halorec::data

#include "serve/strategies.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <limits>
#include <set>

#include "core/check.h"

namespace halorec::serve {

Strategy parse_strategy(const std::string& s) {
  if (s == "single") return Strategy::kSingle;
  if (s == "multi") return Strategy::kMulti;
  if (s == "mmr") return Strategy::kMmr;
  HR_THROW(UsageError, "--strategy '{}': expected single, multi or mmr", s);
}

const char* strategy_name(Strategy s) {
  switch (s) {
    case Strategy::kSingle: return "single";
    case Strategy::kMulti: return "multi";
    case Strategy::kMmr: return "mmr";
  }
  return "?";
}

void merge_by_weight(const std::vector<std::vector<int64_t>>& lists,
                     const std::vector<std::vector<float>>& values, int64_t first,
                     const std::vector<float>& weights, int64_t k, std::vector<int64_t>* out,
                     std::vector<float>* out_scores, std::vector<int32_t>* out_interest) {
  const size_t n = weights.size();
  std::vector<int64_t> taken(n, 0), next(n, 0);
  std::set<int64_t> chosen;
  while (static_cast<int64_t>(out->size()) < k) {
    int64_t best = -1;
    double best_quotient = -1;
    for (size_t j = 0; j < n; ++j) {
      const auto& cand = lists[static_cast<size_t>(first) + j];
      while (next[j] < static_cast<int64_t>(cand.size()) &&
             chosen.count(cand[static_cast<size_t>(next[j])]) > 0) {
        ++next[j];
      }
      if (next[j] >= static_cast<int64_t>(cand.size())) continue;
      const double quotient = weights[j] / static_cast<double>(taken[j] + 1);
      if (quotient > best_quotient) {
        best_quotient = quotient;
        best = static_cast<int64_t>(j);
      }
    }
    if (best < 0) break;
    const size_t row = static_cast<size_t>(first + best);
    const size_t at_ = static_cast<size_t>(next[static_cast<size_t>(best)]++);
    chosen.insert(lists[row][at_]);
    out->push_back(lists[row][at_]);
    out_scores->push_back(values[row][at_]);
    out_interest->push_back(static_cast<int32_t>(best));
    ++taken[static_cast<size_t>(best)];
  }
}

void mmr_select(const std::vector<int64_t>& cand, const std::vector<float>& score,
                const at::Tensor& items_unit, int64_t k, double diversity,
                std::vector<int64_t>* out, std::vector<float>* out_scores) {
  const int64_t c = static_cast<int64_t>(cand.size());
  if (c == 0) return;
  const float hi = score.front(), lo = score.back();
  const at::Tensor unit = items_unit.index_select(0, at::tensor(cand, at::kLong));
  const at::Tensor sim_t = at::mm(unit, unit.t()).contiguous();
  const float* sim = sim_t.data_ptr<float>();
  std::vector<float> max_sim(static_cast<size_t>(c), 0.0f);
  std::vector<char> used(static_cast<size_t>(c), 0);
  for (int64_t pick = 0; pick < std::min(k, c); ++pick) {
    int64_t best = -1;
    double best_value = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < c; ++j) {
      if (used[static_cast<size_t>(j)]) continue;
      const double relevance = hi > lo ? (score[static_cast<size_t>(j)] - lo) / (hi - lo) : 1.0;
      const double redundancy = pick == 0 ? 0.0 : max_sim[static_cast<size_t>(j)];
      const double value = (1.0 - diversity) * relevance - diversity * redundancy;
      if (value > best_value) {
        best_value = value;
        best = j;
      }
    }
    used[static_cast<size_t>(best)] = 1;
    out->push_back(cand[static_cast<size_t>(best)]);
    out_scores->push_back(score[static_cast<size_t>(best)]);
    for (int64_t j = 0; j < c; ++j) {
      const float s_ = sim[best * c + j];
      max_sim[static_cast<size_t>(j)] =
          pick == 0 ? s_ : std::max(max_sim[static_cast<size_t>(j)], s_);
    }
  }
}

}  // namespace halorec::serve

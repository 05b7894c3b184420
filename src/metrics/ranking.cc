#include "metrics/ranking.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/check.h"

namespace halorec::metrics {

void add_ranking_metrics(const int64_t* ranked, int64_t ranked_len, const int64_t* rel_begin,
                         const int64_t* rel_end, const std::vector<int64_t>& topk, double* sums) {
  const int64_t n_rel = rel_end - rel_begin;
  if (n_rel == 0) return;
  for (size_t c = 0; c < topk.size(); ++c) {
    const int64_t k = std::min(topk[c], ranked_len);
    double hits = 0, dcg = 0, idcg = 0;
    for (int64_t j = 0; j < k; ++j) {
      if (std::binary_search(rel_begin, rel_end, ranked[j])) {
        hits += 1;
        dcg += 1.0 / std::log2(static_cast<double>(j) + 2.0);
      }
    }
    for (int64_t j = 0; j < std::min(n_rel, topk[c]); ++j) {
      idcg += 1.0 / std::log2(static_cast<double>(j) + 2.0);
    }
    double* s = sums + kPerList * c;
    s[0] += hits / static_cast<double>(n_rel);
    s[1] += dcg / idcg;
    s[2] += hits / static_cast<double>(topk[c]);
    s[3] += hits > 0 ? 1.0 : 0.0;
  }
}

std::map<std::string, double> means(const std::vector<double>& sums, double users,
                                    const std::vector<int64_t>& topk) {
  HR_CHECK(sums.size() >= kPerList * topk.size(), "metric sums: {} values for {} cut-offs",
           sums.size(), topk.size());
  std::map<std::string, double> out;
  for (size_t c = 0; c < topk.size(); ++c) {
    for (int m = 0; m < kPerList; ++m) {
      out[std::string(kNames[m]) + "@" + std::to_string(topk[c])] =
          users <= 0 ? 0.0 : sums[kPerList * c + static_cast<size_t>(m)] / users;
    }
  }
  return out;
}

at::Tensor masked_topk(at::Tensor scores, const std::vector<int64_t>& masked, int64_t max_k) {
  if (scores.scalar_type() != at::kFloat) scores = scores.to(at::kFloat);
  HR_CHECK(scores.dim() == 2 && max_k <= scores.size(1),
           "masked_topk: top {} of a {}-dimensional score tensor", max_k, scores.dim());
  scores = scores.contiguous();
  if (!masked.empty()) {
    scores.view({-1}).index_fill_(0, at::tensor(masked, at::kLong).to(scores.device()),
                                  -std::numeric_limits<float>::infinity());
  }
  return std::get<1>(at::topk(scores, max_k, 1, true, true)).to(at::kCPU).contiguous();
}

void mark_listed(const int64_t* ranked, int64_t ranked_len, const std::vector<int64_t>& topk,
                 int64_t items, uint8_t* hits) {
  for (size_t c = 0; c < topk.size(); ++c) {
    const int64_t k = std::min(topk[c], ranked_len);
    for (int64_t j = 0; j < k; ++j) hits[static_cast<int64_t>(c) * items + ranked[j]] = 1;
  }
}

std::vector<double> coverage(const uint8_t* hits, const std::vector<int64_t>& topk, int64_t items) {
  std::vector<double> out;
  for (size_t c = 0; c < topk.size(); ++c) {
    const uint8_t* row = hits + static_cast<int64_t>(c) * items;
    const int64_t n = std::count_if(row, row + items, [](uint8_t h) { return h != 0; });
    out.push_back(static_cast<double>(n) / static_cast<double>(std::max<int64_t>(1, items)));
  }
  return out;
}

double novelty(const int64_t* listed, int64_t len, const std::vector<int64_t>& item_users,
               int64_t users) {
  if (len <= 0) return 0.0;
  double self_info = 0;
  for (int64_t j = 0; j < len; ++j) {
    const double share =
        std::max<double>(1.0, static_cast<double>(item_users[static_cast<size_t>(listed[j])])) /
        static_cast<double>(users);
    self_info += -std::log2(share);
  }
  return self_info / static_cast<double>(len);
}

double intra_list_diversity(const at::Tensor& unit_rows) {
  const int64_t len = unit_rows.size(0);
  if (len < 2) return 0.0;
  const double sum_sim =
      at::mm(unit_rows, unit_rows.t()).sum().item<double>() - static_cast<double>(len);
  return 1.0 - sum_sim / static_cast<double>(len * (len - 1));
}

}  // namespace halorec::metrics

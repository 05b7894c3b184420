#include "serve/explain.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace halorec::serve {

std::vector<Explanation> explain_list(const ModelFile& m, const Views& v, const Seen& seen,
                                      int64_t u, const std::vector<int64_t>& list,
                                      const std::vector<int32_t>& from, int64_t per_item) {
  std::vector<Explanation> why;
  if (list.empty()) return why;
  const InterestTable& t = m.interests;
  const std::vector<int64_t> own(seen.begin(u), seen.end(u));
  const at::Tensor rec = v.items_unit.index_select(0, at::tensor(list, at::kLong));
  at::Tensor own_sim;
  if (!own.empty()) {
    own_sim = at::mm(rec, v.items_unit.index_select(0, at::tensor(own, at::kLong)).t()).contiguous();
  }
  at::Tensor medoid_sim;
  if (!t.empty()) {
    const int64_t j0 = t.user_offsets[static_cast<size_t>(u)];
    const int64_t j1 = t.user_offsets[static_cast<size_t>(u) + 1];
    if (j1 > j0) {
      const std::vector<int64_t> med(t.medoid.begin() + j0, t.medoid.begin() + j1);
      medoid_sim =
          at::mm(rec, v.items_unit.index_select(0, at::tensor(med, at::kLong)).t()).contiguous();
    }
  }
  for (size_t j = 0; j < list.size(); ++j) {
    Explanation ex;
    if (!from.empty()) {
      ex.interest = from[j];
    } else if (medoid_sim.defined()) {
      ex.interest =
          static_cast<int32_t>(medoid_sim[static_cast<int64_t>(j)].argmax().item<int64_t>());
    }
    if (own_sim.defined()) {
      const int64_t take = std::min<int64_t>(per_item, static_cast<int64_t>(own.size()));
      const auto [sv, si] = at::topk(own_sim[static_cast<int64_t>(j)], take);
      for (int64_t c = 0; c < take; ++c) {
        ex.because.emplace_back(
            m.item_ids[static_cast<size_t>(own[static_cast<size_t>(si[c].item<int64_t>())])],
            sv[c].item<float>());
      }
    }
    why.push_back(std::move(ex));
  }
  return why;
}

}  // namespace halorec::serve

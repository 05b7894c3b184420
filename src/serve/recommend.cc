#include "serve/recommend.h"

#include "core/check.h"
#include "serve/engine.h"
#include "serve/explain.h"

namespace halorec::serve {

std::vector<Recommendation> recommend(const ModelFile& m, const std::vector<std::string>& users,
                                      const RecommendOptions& o, const std::string& key) {
  const std::vector<int64_t> rows = user_rows_of(m, users, key);
  if (o.explain > 0 && o.seen == nullptr) {
    HR_THROW(UsageError, "--explain needs the model's dataset (--dataset DATASET)");
  }
  const auto engine = make_engine(m, o);
  std::vector<std::vector<float>> scores;
  std::vector<std::vector<int32_t>> from;
  const auto lists = rank_lists(*engine, rows, &scores, &from);
  std::vector<Recommendation> out;
  for (size_t q = 0; q < rows.size(); ++q) {
    Recommendation r;
    r.user = users[q];
    for (size_t j = 0; j < lists[q].size(); ++j) {
      r.items.emplace_back(m.item_ids[static_cast<size_t>(lists[q][j])], scores[q][j]);
    }
    if (o.explain > 0) {
      r.why = explain_list(m, engine->views, engine->seen, rows[q], lists[q], from[q], o.explain);
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace halorec::serve

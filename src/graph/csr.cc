#include "graph/csr.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/counting_sort.h"

namespace halorec::graph {

std::vector<double> weighted_degrees(const data::Dataset& d) {
  const int64_t U = d.num_users();
  std::vector<double> deg(static_cast<size_t>(U + d.num_items()), 0.0);
  const data::Interactions& t = d.train;
  for (size_t r = 0; r < t.size(); ++r) {
    deg[static_cast<size_t>(t.user[r])] += t.weight[r];
    deg[static_cast<size_t>(U + t.item[r])] += t.weight[r];
  }
  return deg;
}

std::vector<double> social_degrees(const data::SocialEdges& social, int64_t num_users) {
  std::vector<double> deg(static_cast<size_t>(num_users), 0.0);
  for (size_t e = 0; e < social.size(); ++e) {
    deg[static_cast<size_t>(social.a[e])] += social.weight[e];
    deg[static_cast<size_t>(social.b[e])] += social.weight[e];
  }
  return deg;
}

Csr normalized_adjacency(const data::Dataset& d, const data::SocialEdges* social,
                         double social_weight) {
  const int64_t U = d.num_users();
  const int64_t N = U + d.num_items();
  const data::Interactions& t = d.train;
  const std::vector<double> deg = weighted_degrees(d);
  const size_t S = social != nullptr && social_weight > 0 ? social->size() : 0;
  const std::vector<double> social_deg =
      S > 0 ? social_degrees(*social, U) : std::vector<double>{};
  Csr a;
  a.num_rows = N;
  CountingSort rows(N);
  for (size_t r = 0; r < t.size(); ++r) {
    rows.count(t.user[r]);
    rows.count(U + t.item[r]);
  }
  for (size_t e = 0; e < S; ++e) {
    rows.count(social->a[e]);
    rows.count(social->b[e]);
  }
  rows.finish_counts();
  a.col.resize(2 * (t.size() + S));
  a.value.resize(2 * (t.size() + S));
  auto normalized = [&](int64_t x, int64_t y, float w) {
    return static_cast<float>(w / std::sqrt(deg[static_cast<size_t>(x)] * deg[static_cast<size_t>(y)]));
  };
  auto social_value = [&](int64_t x, int64_t y, float w) {
    return static_cast<float>(social_weight * w /
                              std::sqrt(social_deg[static_cast<size_t>(x)] *
                                        social_deg[static_cast<size_t>(y)]));
  };
  // Social neighbours first (user ids sort before item node ids). Edges are
  // sorted by (a, b) with a < b: row a receives its b's in order, but row b
  // receives its a's (all < b) interleaved with its own later b's, so each
  // user's social block is sorted afterwards.
  for (size_t e = 0; e < S; ++e) {
    const int64_t x = social->a[e], y = social->b[e];
    const float v = social_value(x, y, social->weight[e]);
    const int64_t px = rows.place(x);
    a.col[static_cast<size_t>(px)] = y;
    a.value[static_cast<size_t>(px)] = v;
    const int64_t py = rows.place(y);
    a.col[static_cast<size_t>(py)] = x;
    a.value[static_cast<size_t>(py)] = v;
  }
  if (S > 0) {
    std::vector<int64_t> order;
    std::vector<int64_t> col;
    std::vector<float> value;
    for (int64_t u = 0; u < U; ++u) {
      const int64_t begin = rows.offsets()[static_cast<size_t>(u)];
      const int64_t end = rows.placed_end(u);
      if (end - begin < 2) continue;
      order.resize(static_cast<size_t>(end - begin));
      std::iota(order.begin(), order.end(), begin);
      std::sort(order.begin(), order.end(), [&](int64_t p, int64_t q) {
        return a.col[static_cast<size_t>(p)] < a.col[static_cast<size_t>(q)];
      });
      col.clear();
      value.clear();
      for (int64_t p : order) {
        col.push_back(a.col[static_cast<size_t>(p)]);
        value.push_back(a.value[static_cast<size_t>(p)]);
      }
      std::copy(col.begin(), col.end(), a.col.begin() + begin);
      std::copy(value.begin(), value.end(), a.value.begin() + begin);
    }
  }
  // Train is sorted by (user, item), so user rows fill in item order and item
  // rows in user order: every row comes out sorted.
  for (size_t r = 0; r < t.size(); ++r) {
    const int64_t u = t.user[r];
    const int64_t i = U + t.item[r];
    const float v = normalized(u, i, t.weight[r]);
    const int64_t pu = rows.place(u);
    a.col[static_cast<size_t>(pu)] = i;
    a.value[static_cast<size_t>(pu)] = v;
    const int64_t pi = rows.place(i);
    a.col[static_cast<size_t>(pi)] = u;
    a.value[static_cast<size_t>(pi)] = v;
  }
  a.indptr = rows.take_offsets();
  return a;
}

}  // namespace halorec::graph

#include "graph/csr.h"

#include <cmath>

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

Csr normalized_adjacency(const data::Dataset& d) {
  const int64_t U = d.num_users();
  const int64_t N = U + d.num_items();
  const data::Interactions& t = d.train;
  const std::vector<double> deg = weighted_degrees(d);
  Csr a;
  a.num_rows = N;
  a.indptr.assign(static_cast<size_t>(N) + 1, 0);
  for (size_t r = 0; r < t.size(); ++r) {
    ++a.indptr[static_cast<size_t>(t.user[r]) + 1];
    ++a.indptr[static_cast<size_t>(U + t.item[r]) + 1];
  }
  for (size_t k = 1; k < a.indptr.size(); ++k) a.indptr[k] += a.indptr[k - 1];
  a.col.resize(2 * t.size());
  a.value.resize(2 * t.size());
  std::vector<int64_t> fill(a.indptr.begin(), a.indptr.end() - 1);
  // Train is sorted by (user, item), so user rows fill in item order and item
  // rows in user order: every row comes out sorted.
  for (size_t r = 0; r < t.size(); ++r) {
    const int64_t u = t.user[r];
    const int64_t i = U + t.item[r];
    const float v = static_cast<float>(
        t.weight[r] / std::sqrt(deg[static_cast<size_t>(u)] * deg[static_cast<size_t>(i)]));
    const int64_t pu = fill[static_cast<size_t>(u)]++;
    a.col[static_cast<size_t>(pu)] = i;
    a.value[static_cast<size_t>(pu)] = v;
    const int64_t pi = fill[static_cast<size_t>(i)]++;
    a.col[static_cast<size_t>(pi)] = u;
    a.value[static_cast<size_t>(pi)] = v;
  }
  return a;
}

}  // namespace halorec::graph

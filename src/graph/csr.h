#pragma once
// The symmetric user-item graph in CSR form. Nodes are users 0..U-1 and items
// U..U+I-1; edges are train interactions in both directions, valued with the
// LightGCN normalization w_ui / sqrt(D_u D_i), D the weighted degree over
// the interactions (for unweighted data, 1 / sqrt(d_u d_i)). Social edges
// (data.social) are their own relation: user-user edges valued
// beta s_uv / sqrt(S_u S_v), S the social degrees, beta = data.social_weight
// (0: left out). A user's next layer is then the normalized sum over its
// items plus beta times the normalized sum over its friends; the
// interaction part is the graph without social edges, whatever the friends.
// A user's row lists its social neighbours first.

#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "data/social.h"

namespace halorec::graph {

struct Csr {
  int64_t num_rows = 0;
  std::vector<int64_t> indptr;  // num_rows + 1
  std::vector<int64_t> col;     // sorted within each row
  std::vector<float> value;

  int64_t nnz() const { return static_cast<int64_t>(col.size()); }
  int64_t degree(int64_t row) const { return indptr[row + 1] - indptr[row]; }
};

// Weighted degree of every node (users then items) over train interactions.
std::vector<double> weighted_degrees(const data::Dataset& d);
// Each of `num_users` users' social degree S: the summed weights of its
// social edges (the user-user normalization's degrees).
std::vector<double> social_degrees(const data::SocialEdges& social, int64_t num_users);

// The normalized symmetric adjacency of the train interactions, and of the
// social edges at `social_weight` (beta above; 0 leaves them out).
Csr normalized_adjacency(const data::Dataset& d, const data::SocialEdges* social = nullptr,
                         double social_weight = data::kDefaultSocialWeight);

}  // namespace halorec::graph

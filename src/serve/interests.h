#pragma once
// Multi-interest vectors (PinnerSage-style): a user's interests are clusters
// of the vectors of the items the user interacted with. Ward agglomerative
// clustering (nearest-neighbour chain, O(n^2)) of the L2-normalized item
// vectors; merging stops before the first merge (in Ward order) that would
// join two groups whose centroids are more than `threshold` apart (squared
// Euclidean distance of normalized vectors: 2 - 2 cos), and continues while
// more than `max_interests` groups remain. Each interest is represented by
// its medoid (the member nearest its centroid, whose vector is the interest's
// vector), weighted by its share of the user's interactions.

#include <cstdint>
#include <vector>

namespace halorec::serve {

struct InterestOptions {
  int64_t max_interests = 5;
  double threshold = 0.8;
  int64_t max_items = 500;      // the user's most recent (else first) items clustered
  int64_t representatives = 5;  // members listed per interest, nearest the centroid first
};

struct Interest {
  double weight = 0;                     // share of the clustered interactions
  int64_t size = 0;                      // member items
  int64_t medoid = -1;                   // item row
  std::vector<int64_t> representatives;  // item rows, medoid first
  std::vector<int64_t> members;          // all member item rows
};

// UsageError naming the option when a value is out of range.
void check_interest_options(const InterestOptions& options);

// The items one user's interests are found from: the interactions `rows`
// (indices into the parallel `item` / `time` arrays; time may be empty),
// most recent first when times exist, at most `max_items` of them.
std::vector<int64_t> items_to_cluster(std::vector<int64_t> rows, const std::vector<int64_t>& item,
                                      const std::vector<int64_t>& time, int64_t max_items);

// Clusters `items` (item rows; their vectors are rows of `item_vectors`,
// row-major with `dim` columns). Interests come out by weight, largest first.
std::vector<Interest> find_interests(const std::vector<int64_t>& items,
                                     const std::vector<float>& item_vectors, int64_t dim,
                                     const InterestOptions& options);

// Cluster labels (0..K-1) of `n` points (row-major `points`, `dim` columns)
// by the rule above: the building block of find_interests, for tests.
std::vector<int32_t> ward_clusters(const std::vector<float>& points, int64_t n, int64_t dim,
                                   double threshold, int64_t max_clusters);

// Interests of many users, flattened for model.h5 (docs/formats.md).
struct InterestTable {
  std::vector<int64_t> user_offsets;     // users + 1
  std::vector<float> weight;             // per interest
  std::vector<int64_t> size;             // per interest
  std::vector<int64_t> medoid;           // per interest: item row
  std::vector<int64_t> representatives;  // per interest x R, -1 padded
  int64_t r = 0;                         // representatives per interest
  // Every member item of each interest (not stored in model.h5).
  std::vector<int64_t> member_offsets;  // interests + 1
  std::vector<int64_t> members;
  double threshold = 0;
  int64_t max_interests = 0;
  int64_t num_interests() const { return static_cast<int64_t>(weight.size()); }
  bool empty() const { return user_offsets.empty(); }
};

// Every user's interests from their train interactions (`user`, `item`,
// `time` parallel arrays; time may be empty), over `threads` threads.
InterestTable interests_for_all(int64_t num_users, const std::vector<int64_t>& user,
                                const std::vector<int64_t>& item, const std::vector<int64_t>& time,
                                const std::vector<float>& item_vectors, int64_t dim,
                                const InterestOptions& options);

// One user's interests from a table (model.h5's stored ones, or
// interests_for_all's), by weight; members only where the table has them.
std::vector<Interest> interests_of(const InterestTable& table, int64_t user_row);

}  // namespace halorec::serve

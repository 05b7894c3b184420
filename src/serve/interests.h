#pragma once
// Multi-interest vectors (PinnerSage-style): a user's interests are clusters
// of the vectors of the items the user interacted with. Ward agglomerative
// clustering (nearest-neighbour chain, O(n^2)) of the L2-normalized item
// vectors; merging stops before the first merge (in Ward order) whose cost,
// the rise in the groups' sum of squared distances to their centroids,
// exceeds `threshold`, and goes on while more than `max_interests` groups
// remain. A merge's cost is |A||B|/(|A|+|B|) times the squared distance of
// the centroids: for items scattered around one direction it stays near
// the items' scatter whatever the group sizes, while two real interests
// cost more the more items each has, so K grows with the evidence. The
// default threshold is the model's own (calibrate_threshold): one number for
// all embeddings gave most users of one model the maximum and of another a
// single interest. Each interest is represented by its medoid (the member
// nearest its centroid, whose vector is the interest's vector), weighted by
// its share of the user's interactions.

#include <cstdint>
#include <string>
#include <vector>

namespace halorec::serve {

struct InterestOptions {
  int64_t max_interests = 5;
  double threshold = 0;  // 0: the model's (calibrate_threshold)
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

// --threshold's value: "auto" (0) or a merge cost > 0; UsageError naming
// `option` otherwise.
double parse_threshold(const std::string& text, const char* option);

// The model's threshold: the median of 2 - 2 cos between two items one user
// has (pairs drawn interaction-weighted, 20,000 of them, a fixed seed). It is
// twice the scatter s (mean squared distance to the centroid) of a typical
// user's items, since E|x - y|^2 = 2 s: a merge is refused when it would add
// more than two items' worth of scatter. 1 when no user has two items.
// `user`/`item` are the train interactions.
double calibrate_threshold(int64_t num_users, const std::vector<int64_t>& user,
                           const std::vector<int64_t>& item, const std::vector<float>& item_vectors,
                           int64_t dim);

// An auto threshold in `options` replaced by calibrate_threshold's, and logged;
// a given one left as it is.
void resolve_threshold(int64_t num_users, const std::vector<int64_t>& user,
                       const std::vector<int64_t>& item, const std::vector<float>& item_vectors,
                       int64_t dim, InterestOptions* options);

// The items one user's interests are found from: the interactions `rows`
// (indices into the parallel `item` / `time` arrays; time may be empty),
// most recent first when times exist, at most `max_items` of them.
std::vector<int64_t> items_to_cluster(std::vector<int64_t> rows, const std::vector<int64_t>& item,
                                      const std::vector<int64_t>& time, int64_t max_items);

// Clusters `items` (item rows; their vectors are rows of `item_vectors`,
// row-major with `dim` columns). Interests come out by weight, largest first.
// The threshold must be resolved (calibrate_threshold where it is auto).
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
  double threshold = 0;  // the one used (calibrated where the options said auto)
  int64_t max_interests = 0;
  int64_t num_interests() const { return static_cast<int64_t>(weight.size()); }
  bool empty() const { return user_offsets.empty(); }
};

// Every user's interests from their train interactions (`user`, `item`,
// `time` parallel arrays; time may be empty), over `threads` threads; an
// auto threshold is resolved on them first (resolve_threshold).
InterestTable interests_for_all(int64_t num_users, const std::vector<int64_t>& user,
                                const std::vector<int64_t>& item, const std::vector<int64_t>& time,
                                const std::vector<float>& item_vectors, int64_t dim,
                                const InterestOptions& options);

// One user's interests from a table (model.h5's stored ones, or
// interests_for_all's), by weight; members only where the table has them.
std::vector<Interest> interests_of(const InterestTable& table, int64_t user_row);

}  // namespace halorec::serve

#pragma once
// Social edges (data.social): user-user pairs beside the interactions, read
// from a text file that names users by their original ids (docs/formats.md,
// "Social edges"). They join the interest graph as undirected user-user
// edges; the dataset file itself never holds them.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace halorec::data {

// Undirected edges over dense user ids: a < b, sorted by (a, b), each pair
// once; weights of repeated pairs (in either direction) are summed.
struct SocialEdges {
  std::vector<int64_t> a;
  std::vector<int64_t> b;
  std::vector<float> weight;

  size_t size() const { return a.size(); }
};

struct SocialReport {
  std::string path;
  std::string fingerprint;  // social_fingerprint(path)
  int64_t lines = 0;        // lines read (comments and blank lines included)
  int64_t pairs = 0;        // pairs read
  int64_t edges = 0;        // undirected edges kept
  int64_t unknown_user = 0;  // pairs naming a user the dataset does not have (skipped)
  int64_t self_pairs = 0;    // a user paired with itself (skipped)
  int64_t merged = 0;        // repeats of a pair (either direction) merged into it
  std::string first_unknown;  // "file:line: id", for the log
  nlohmann::json to_json() const;
};

// SHA-256 of the file's bytes. "" for an empty path.
std::string social_fingerprint(const std::string& path);

// data.social_weight's default (graph/csr.h: the social relation's weight
// beside the interactions), chosen on LastFM's validation carve
// (docs/living.md "Social edges").
inline constexpr double kDefaultSocialWeight = 0.35;

// What partitions, checkpoints and exports record of a graph's social
// relation and compare: SHA-256 over the file's fingerprint, the relation's
// normalization and its weight. A file that changed, another weight, or a
// graph made by a version that normalized social edges with the
// interactions, all differ. "" when `file_fingerprint` is "".
std::string social_graph_id(const std::string& file_fingerprint, double weight);

// Reads `path`: one pair per line, `USER USER [WEIGHT]`, fields separated by
// a tab, a comma or spaces; blank lines and lines starting with '#' skipped;
// weight > 0 and finite (default 1). Users are the dataset's original ids
// (`user_ids`, dense order). InputError naming file:line for a malformed line,
// and when no pair names two users of the dataset.
SocialEdges read_social(const std::string& path, const std::vector<std::string>& user_ids,
                        SocialReport* report);

}  // namespace halorec::data

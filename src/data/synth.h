#pragma once
// `halorec synth`: synthetic interactions with planted interest communities.
// Every user and item belongs to one community; item popularity within a
// community is power-law (Zipf); user activity is power-law; each interaction
// stays inside the user's community with probability `in_community`. With
// `interests_per_user` = N > 1 every user has N distinct communities (the
// first is user_community()) and each in-community interaction picks one of
// them uniformly.
// Interaction k is a pure function of (seed, k), so output is deterministic
// and streams in constant memory beyond the per-user and per-item tables.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "data/split.h"

namespace halorec::data {

struct SynthOptions {
  int64_t users = 1000;
  int64_t items = 500;
  int64_t interactions = 20000;
  int64_t communities = 8;
  uint64_t seed = 2020;
  double in_community = 0.8;
  int64_t interests_per_user = 1;
  double item_exponent = 1.0;  // Zipf exponent of item popularity
  double user_exponent = 0.5;  // Zipf exponent of user activity
  // Social edges (data.social): each user names social_degree friends, each
  // in the user's (first) community with probability `homophily`, else in a
  // community drawn uniformly; written to NAME.social.tsv. 0: none.
  int64_t social_degree = 0;
  double homophily = 0.8;
  std::string out;             // .tsv/.csv: a log; .h5: a prepared dataset
  SplitSpec split;             // for .h5 output
  bool force = false;          // replace existing .tsv/.csv outputs (an .h5 dataset always)
};

class SynthModel {
 public:
  explicit SynthModel(const SynthOptions& options);  // UsageError on bad options
  int32_t user_community(int64_t user) const;
  // The user's communities (interests_per_user of them, the first being
  // user_community(user)).
  std::vector<int32_t> user_communities(int64_t user) const;
  int32_t item_community(int64_t item) const;
  struct Draw {
    int64_t user;
    int64_t item;
    int64_t time;
  };
  Draw draw(int64_t k) const;
  // The friends user `user` names (social_degree of them, never the user).
  std::vector<int64_t> friends(int64_t user) const;

 private:
  SynthOptions o_;
  std::vector<double> user_cdf_;
  std::vector<std::vector<int64_t>> community_items_;
  std::vector<std::vector<double>> community_cdf_;
  std::vector<std::vector<int64_t>> community_users_;  // with social_degree > 0
};

struct SynthReport {
  std::string out;
  std::string communities_out;  // planted communities (TSV output only)
  std::string social_out;       // social edges (--social-degree > 0)
  int64_t social_pairs = 0;
  int64_t users = 0;
  int64_t items = 0;
  int64_t interactions = 0;
  int64_t communities = 0;
  int64_t train = 0;  // .h5 output: prepared train and test interactions
  int64_t test = 0;
  double seconds = 0;
  int64_t peak_rss_bytes = 0;
  nlohmann::json to_json() const;
};

SynthReport run_synth(const SynthOptions& options);

// "data.tsv" -> "data.communities.tsv".
std::string communities_path_for(const std::string& out);
// "data.tsv" (or "data.h5") -> "data.social.tsv".
std::string social_path_for(const std::string& out);

}  // namespace halorec::data

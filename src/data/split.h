#pragma once
// Train/test splits: a given test file, a seeded random fraction per user, or
// each user's latest interactions. A split never empties a user's train side.

#include <cstdint>
#include <string>

#include "data/interactions.h"

namespace halorec::data {

struct SplitSpec {
  enum class Kind { kGiven, kRandom, kTemporal, kNone };
  Kind kind = Kind::kNone;
  double ratio = 0.0;    // random: fraction of each user's interactions to test
  int64_t last = 0;      // temporal: how many latest interactions to test
  std::string to_string() const;
};

// Parses "random:0.2", "temporal:1" or "none" (UsageError naming --split).
SplitSpec parse_split(const std::string& value);

// Moves records from *all (sorted by user) into *test per the spec; random
// draws are keyed by (seed, user), so the result does not depend on input
// order. Both outputs are sorted by (user, item).
void split_per_user(const SplitSpec& spec, uint64_t seed, Interactions* all, Interactions* test);

// The validation carve (train's data.validation): moves round(fraction x n)
// of each user's n train records (at most n - 1) out of *train and returns
// them; the same draws as a random split keyed by `seed`, so partitioning
// and export carve identically whatever the rank count.
Interactions carve_validation(double fraction, uint64_t seed, Interactions* train);

}  // namespace halorec::data

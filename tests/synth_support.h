#pragma once
// Small synthetic datasets for tests that need a graph.

#include <cstdint>
#include <string>

#include "data/split.h"
#include "data/synth.h"

namespace halorec::testing_support {

// Synth options for `users` x `items` with `interactions` draws in
// `communities` communities; `out` (a .h5 path) and `split` for run_synth.
inline data::SynthOptions small_synth(int64_t users, int64_t items, int64_t interactions,
                                      int64_t communities, uint64_t seed,
                                      const std::string& out = "",
                                      const std::string& split = "random:0.2") {
  data::SynthOptions o;
  o.users = users;
  o.items = items;
  o.interactions = interactions;
  o.communities = communities;
  o.seed = seed;
  o.split = data::parse_split(split);
  o.out = out;
  return o;
}

}  // namespace halorec::testing_support

#pragma once
// Assigns every node of the user-item graph to one of P owners.
//   metis:  METIS k-way with two balance constraints per node (1, degree), so
//           both node and edge counts per rank stay within `max_imbalance`
//           of the mean; the objective is the communication volume (= the
//           total halo), not the edge cut. docs/partitioning.md has the
//           measurements behind these choices.
//   random: a seeded random permutation dealt round-robin (node counts
//           balanced exactly; edges balanced in expectation).
//   hash:   owner = hash(global id) mod P, independent of the seed.
//   fennel: one streaming pass (Fennel, Tsourakakis et al. 2014) over the
//           nodes in breadth-first order from seeded random roots: each node
//           goes to the part holding most of its already placed neighbours,
//           less a size penalty alpha * gamma * |part|^(gamma-1) (gamma 1.5,
//           alpha = sqrt(P) m / n^1.5), among parts under both caps
//           (max_imbalance times the mean of nodes and of edges). Linear time,
//           no index-width limit, deterministic for a seed; for graphs METIS
//           cannot take (docs/partitioning.md).

#include <cstdint>
#include <string>
#include <vector>

#include "graph/csr.h"

namespace halorec::partition {

enum class Method { kMetis, kRandom, kHash, kFennel };
Method parse_method(const std::string& name);  // UsageError naming --method
const char* method_name(Method m);

std::vector<int32_t> assign_owners(const graph::Csr& graph, int32_t parts, Method method,
                                   uint64_t seed, double max_imbalance = 1.08);

}  // namespace halorec::partition

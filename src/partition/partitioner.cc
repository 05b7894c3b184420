#include "partition/partitioner.h"

#include <metis.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/check.h"
#include "core/counter_rng.h"
#include "core/log.h"

namespace halorec::partition {

Method parse_method(const std::string& name) {
  if (name == "metis") return Method::kMetis;
  if (name == "random") return Method::kRandom;
  if (name == "hash") return Method::kHash;
  if (name == "fennel") return Method::kFennel;
  HR_THROW(UsageError, "--method '{}': expected metis, random, hash or fennel", name);
}

const char* method_name(Method m) {
  switch (m) {
    case Method::kMetis: return "metis";
    case Method::kRandom: return "random";
    case Method::kFennel: return "fennel";
    default: return "hash";
  }
}

namespace {

// A permutation of 0..n-1 (Fisher-Yates) drawn from the keyed generator.
std::vector<int64_t> keyed_permutation(int64_t n, uint64_t key) {
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  CounterRng rng(key);
  for (int64_t k = n - 1; k > 0; --k) {
    std::swap(perm[static_cast<size_t>(k)],
              perm[static_cast<size_t>(rng.below(static_cast<uint64_t>(k + 1)))]);
  }
  return perm;
}

std::vector<int32_t> random_owners(int64_t n, int32_t parts, uint64_t seed) {
  const std::vector<int64_t> perm = keyed_permutation(n, hash_key(seed, 0x5041u));
  std::vector<int32_t> owner(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) owner[static_cast<size_t>(perm[k])] = static_cast<int32_t>(k % parts);
  return owner;
}

std::vector<int32_t> hash_owners(int64_t n, int32_t parts) {
  std::vector<int32_t> owner(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    owner[static_cast<size_t>(k)] =
        static_cast<int32_t>(mix64(static_cast<uint64_t>(k)) % static_cast<uint64_t>(parts));
  }
  return owner;
}

std::vector<int32_t> metis_owners(const graph::Csr& g, int32_t parts, uint64_t seed,
                                  double max_imbalance) {
  constexpr int64_t kMaxIdx = std::numeric_limits<idx_t>::max();
  if (g.num_rows > kMaxIdx || g.nnz() > kMaxIdx) {
    HR_THROW(InputError,
             "the graph has {} nodes and {} directed edges, beyond this METIS build's {}-bit "
             "indices; use --method fennel, random or hash",
             g.num_rows, g.nnz(), IDXTYPEWIDTH);
  }
  std::vector<int32_t> owner(static_cast<size_t>(g.num_rows), 0);
  if (parts == 1) return owner;
  idx_t nvtxs = static_cast<idx_t>(g.num_rows);
  idx_t ncon = 2;
  std::vector<idx_t> xadj(g.indptr.begin(), g.indptr.end());
  std::vector<idx_t> adjncy(g.col.begin(), g.col.end());
  std::vector<idx_t> vwgt(2 * static_cast<size_t>(nvtxs));
  for (idx_t v = 0; v < nvtxs; ++v) {
    vwgt[2 * v] = 1;
    // Isolated nodes still cost a row; weigh them as one edge.
    vwgt[2 * v + 1] = static_cast<idx_t>(std::max<int64_t>(1, g.degree(v)));
  }
  idx_t nparts = parts;
  const auto ub = static_cast<real_t>(max_imbalance);
  std::vector<real_t> ubvec = {ub, ub};
  idx_t options[METIS_NOPTIONS];
  METIS_SetDefaultOptions(options);
  options[METIS_OPTION_OBJTYPE] = METIS_OBJTYPE_VOL;
  options[METIS_OPTION_SEED] = static_cast<idx_t>(seed % static_cast<uint64_t>(kMaxIdx));
  options[METIS_OPTION_NUMBERING] = 0;
  idx_t objval = 0;
  std::vector<idx_t> part(static_cast<size_t>(nvtxs));
  const int status = METIS_PartGraphKway(&nvtxs, &ncon, xadj.data(), adjncy.data(), vwgt.data(),
                                         nullptr, nullptr, &nparts, nullptr, ubvec.data(), options,
                                         &objval, part.data());
  if (status != METIS_OK) {
    HR_THROW(InternalError, "METIS_PartGraphKway failed with status {} ({})", status,
             status == METIS_ERROR_MEMORY ? "out of memory" : "error");
  }
  log::debug("METIS communication volume {}", objval);
  for (size_t k = 0; k < part.size(); ++k) owner[k] = static_cast<int32_t>(part[k]);
  return owner;
}

// Breadth-first order over all nodes; roots in a seeded random order, so
// every component is covered and neighbours tend to arrive together.
std::vector<int64_t> bfs_order(const graph::Csr& g, uint64_t seed) {
  const int64_t n = g.num_rows;
  const std::vector<int64_t> perm = keyed_permutation(n, hash_key(seed, 0x4246u));
  std::vector<uint8_t> seen(static_cast<size_t>(n), 0);
  std::vector<int64_t> order;
  order.reserve(static_cast<size_t>(n));
  for (int64_t root : perm) {
    if (seen[static_cast<size_t>(root)]) continue;
    seen[static_cast<size_t>(root)] = 1;
    size_t head = order.size();
    order.push_back(root);
    for (; head < order.size(); ++head) {
      const int64_t v = order[head];
      for (int64_t e = g.indptr[v]; e < g.indptr[v + 1]; ++e) {
        const int64_t u = g.col[e];
        if (!seen[static_cast<size_t>(u)]) {
          seen[static_cast<size_t>(u)] = 1;
          order.push_back(u);
        }
      }
    }
  }
  return order;
}

constexpr int kFennelPasses = 8;

std::vector<int32_t> fennel_owners(const graph::Csr& g, int32_t parts, uint64_t seed,
                                   double max_imbalance) {
  const int64_t n = g.num_rows;
  std::vector<int32_t> owner(static_cast<size_t>(n), -1);
  if (parts == 1) {
    std::fill(owner.begin(), owner.end(), 0);
    return owner;
  }
  const double m = static_cast<double>(g.nnz()) / 2;  // undirected edges
  const double gamma = 1.5;
  const double alpha = std::sqrt(static_cast<double>(parts)) * m /
                       std::pow(static_cast<double>(std::max<int64_t>(1, n)), gamma);
  // Caps: a row costs its node and its edges (isolated nodes weigh one edge,
  // as for METIS).
  double total_edges = 0;
  for (int64_t v = 0; v < n; ++v) total_edges += static_cast<double>(std::max<int64_t>(1, g.degree(v)));
  const double node_cap = max_imbalance * static_cast<double>(n) / parts;
  const double edge_cap = max_imbalance * total_edges / parts;
  std::vector<int64_t> near(static_cast<size_t>(parts), 0);
  const std::vector<int64_t> order = bfs_order(g, seed);
  // Restreaming (Nishimura & Ugander 2013): later passes see every
  // neighbour's owner from the pass before, which the first pass lacks for
  // nodes not yet placed.
  for (int pass = 0; pass < kFennelPasses; ++pass) {
    std::vector<double> nodes(static_cast<size_t>(parts), 0), edges(static_cast<size_t>(parts), 0);
    std::vector<int32_t> next(static_cast<size_t>(n), -1);
    for (int64_t v : order) {
      std::fill(near.begin(), near.end(), 0);
      for (int64_t e = g.indptr[v]; e < g.indptr[v + 1]; ++e) {
        const size_t u = static_cast<size_t>(g.col[e]);
        const int32_t o = next[u] >= 0 ? next[u] : owner[u];
        if (o >= 0) ++near[static_cast<size_t>(o)];
      }
      const double w = static_cast<double>(std::max<int64_t>(1, g.degree(v)));
      int32_t best = -1, fallback = 0;
      double best_score = -std::numeric_limits<double>::infinity();
      double fallback_load = std::numeric_limits<double>::infinity();
      for (int32_t p = 0; p < parts; ++p) {
        const size_t q = static_cast<size_t>(p);
        // Over a cap: only as a fallback, the part that ends least over.
        const double load = std::max((nodes[q] + 1) / node_cap, (edges[q] + w) / edge_cap);
        if (load < fallback_load) {
          fallback_load = load;
          fallback = p;
        }
        if (load > 1) continue;
        const double score =
            static_cast<double>(near[q]) - alpha * gamma * std::pow(nodes[q], gamma - 1);
        if (score > best_score) {
          best_score = score;
          best = p;
        }
      }
      if (best < 0) best = fallback;
      next[static_cast<size_t>(v)] = best;
      nodes[static_cast<size_t>(best)] += 1;
      edges[static_cast<size_t>(best)] += w;
    }
    owner.swap(next);
  }
  return owner;
}

}  // namespace

std::vector<int32_t> assign_owners(const graph::Csr& graph, int32_t parts, Method method,
                                   uint64_t seed, double max_imbalance) {
  HR_CHECK(parts >= 1 && parts <= graph.num_rows, "parts {} for {} nodes", parts, graph.num_rows);
  if (!(max_imbalance > 1.0 && max_imbalance < 2.0)) {
    HR_THROW(UsageError, "--max-imbalance must be in (1, 2), got {}", max_imbalance);
  }
  switch (method) {
    case Method::kMetis: return metis_owners(graph, parts, seed, max_imbalance);
    case Method::kRandom: return random_owners(graph.num_rows, parts, seed);
    case Method::kFennel: return fennel_owners(graph, parts, seed, max_imbalance);
    default: return hash_owners(graph.num_rows, parts);
  }
}

}  // namespace halorec::partition

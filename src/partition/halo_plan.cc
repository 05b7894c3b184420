#include "partition/halo_plan.h"

#include <algorithm>

#include "core/check.h"
#include "core/counting_sort.h"

namespace halorec::partition {

namespace {

// Records of `x` whose user is owned by `rank`, keeping order.
data::Interactions owned_records(const data::Interactions& x, const std::vector<int32_t>& owner,
                                 int32_t rank) {
  data::Interactions out;
  out.has_time = x.has_time;
  for (size_t r = 0; r < x.size(); ++r) {
    if (owner[static_cast<size_t>(x.user[r])] == rank) {
      out.push(x.user[r], x.item[r], x.weight[r], x.has_time ? x.time[r] : 0);
    }
  }
  return out;
}

}  // namespace

std::vector<Shard> build_shards(const data::Dataset& d, const graph::Csr& g,
                                const std::vector<int32_t>& owner, int32_t parts,
                                const data::Interactions* validation) {
  const int64_t n = g.num_rows;
  HR_CHECK_EQ(static_cast<int64_t>(owner.size()), n);
  std::vector<Shard> shards(static_cast<size_t>(parts));
  std::vector<int64_t> local_at_owner(static_cast<size_t>(n));
  for (int32_t r = 0; r < parts; ++r) {
    shards[r].rank = r;
    shards[r].num_parts = parts;
    shards[r].num_users = d.num_users();
    shards[r].num_items = d.num_items();
  }
  for (int64_t v = 0; v < n; ++v) {
    Shard& s = shards[static_cast<size_t>(owner[v])];
    local_at_owner[static_cast<size_t>(v)] = s.num_owned();
    s.owned.push_back(v);
  }

  // Halo and local CSR per rank. `slot` maps a global id to its local index
  // while one rank is built, and is reset afterwards.
  std::vector<int64_t> slot(static_cast<size_t>(n), -1);
  for (Shard& s : shards) {
    for (int64_t v : s.owned) {
      for (int64_t e = g.indptr[v]; e < g.indptr[v + 1]; ++e) {
        const int64_t w = g.col[static_cast<size_t>(e)];
        if (owner[static_cast<size_t>(w)] != s.rank && slot[static_cast<size_t>(w)] == -1) {
          slot[static_cast<size_t>(w)] = 0;
          s.halo.push_back(w);
        }
      }
    }
    std::sort(s.halo.begin(), s.halo.end(), [&](int64_t a, int64_t b) {
      const int32_t oa = owner[static_cast<size_t>(a)], ob = owner[static_cast<size_t>(b)];
      return oa != ob ? oa < ob : a < b;
    });
    CountingSort by_owner(parts);  // the halo is sorted by owner: offsets only
    for (size_t h = 0; h < s.halo.size(); ++h) {
      const int64_t w = s.halo[h];
      const int32_t o = owner[static_cast<size_t>(w)];
      slot[static_cast<size_t>(w)] = s.num_owned() + static_cast<int64_t>(h);
      s.halo_owner.push_back(o);
      s.halo_owner_local.push_back(local_at_owner[static_cast<size_t>(w)]);
      by_owner.count(o);
    }
    by_owner.finish_counts();
    s.recv_offsets = by_owner.take_offsets();
    for (int64_t k = 0; k < s.num_owned(); ++k) {
      slot[static_cast<size_t>(s.owned[static_cast<size_t>(k)])] = k;
    }

    s.indptr.reserve(s.owned.size() + 1);
    s.indptr.push_back(0);
    for (int64_t v : s.owned) {
      for (int64_t e = g.indptr[v]; e < g.indptr[v + 1]; ++e) {
        s.col.push_back(slot[static_cast<size_t>(g.col[static_cast<size_t>(e)])]);
        s.value.push_back(g.value[static_cast<size_t>(e)]);
      }
      s.indptr.push_back(static_cast<int64_t>(s.col.size()));
    }
    for (int64_t v : s.owned) slot[static_cast<size_t>(v)] = -1;
    for (int64_t w : s.halo) slot[static_cast<size_t>(w)] = -1;
  }

  // Send lists: what peer q receives from rank r, in q's order.
  for (Shard& s : shards) s.send_offsets.assign(static_cast<size_t>(parts) + 1, 0);
  std::vector<std::vector<std::vector<int64_t>>> sends(
      static_cast<size_t>(parts), std::vector<std::vector<int64_t>>(static_cast<size_t>(parts)));
  for (const Shard& q : shards) {
    for (size_t h = 0; h < q.halo.size(); ++h) {
      sends[static_cast<size_t>(q.halo_owner[h])][static_cast<size_t>(q.rank)].push_back(
          q.halo_owner_local[h]);
    }
  }
  for (Shard& s : shards) {
    for (int32_t q = 0; q < parts; ++q) {
      auto& list = sends[static_cast<size_t>(s.rank)][static_cast<size_t>(q)];
      s.send_index.insert(s.send_index.end(), list.begin(), list.end());
      s.send_offsets[static_cast<size_t>(q) + 1] = static_cast<int64_t>(s.send_index.size());
      std::vector<int64_t>().swap(list);
    }
  }

  // Interactions of owned users.
  for (Shard& s : shards) {
    s.train = owned_records(d.train, owner, s.rank);
    s.test = owned_records(d.test, owner, s.rank);
    if (validation != nullptr) s.validation = owned_records(*validation, owner, s.rank);
  }
  return shards;
}

}  // namespace halorec::partition

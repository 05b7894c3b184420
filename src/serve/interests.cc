#include "serve/interests.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "core/check.h"
#include "core/counting_sort.h"
#include "core/log.h"
#include "core/progress.h"

namespace halorec::serve {

namespace {

struct Merge {
  int32_t a, b;
  double cost;
};

// Ward merges by the nearest-neighbour chain over squared distances d (n x n,
// row-major, overwritten). Returned in the order found; sorted by cost they
// form the dendrogram (Ward is reducible).
std::vector<Merge> ward_merges(std::vector<double>& d, int64_t n) {
  std::vector<int64_t> size(static_cast<size_t>(n), 1);
  std::vector<char> active(static_cast<size_t>(n), 1);
  std::vector<int32_t> chain;
  std::vector<Merge> merges;
  int64_t remaining = n;
  auto D = [&](int64_t i, int64_t j) -> double& { return d[static_cast<size_t>(i * n + j)]; };
  while (remaining > 1) {
    if (chain.empty()) {
      for (int64_t i = 0; i < n; ++i) {
        if (active[static_cast<size_t>(i)]) {
          chain.push_back(static_cast<int32_t>(i));
          break;
        }
      }
    }
    const int32_t a = chain.back();
    const int32_t prev = chain.size() >= 2 ? chain[chain.size() - 2] : -1;
    int32_t b = prev;
    double best = prev >= 0 ? D(a, prev) : std::numeric_limits<double>::infinity();
    for (int64_t c = 0; c < n; ++c) {
      if (c == a || !active[static_cast<size_t>(c)]) continue;
      if (D(a, c) < best) {
        best = D(a, c);
        b = static_cast<int32_t>(c);
      }
    }
    if (b == prev && prev >= 0) {
      chain.pop_back();
      chain.pop_back();
      merges.push_back({a, b, best / 2});
      // Lance-Williams for Ward: the merged cluster lives at index a.
      const double na = static_cast<double>(size[static_cast<size_t>(a)]);
      const double nb = static_cast<double>(size[static_cast<size_t>(b)]);
      for (int64_t k = 0; k < n; ++k) {
        if (!active[static_cast<size_t>(k)] || k == a || k == b) continue;
        const double nk = static_cast<double>(size[static_cast<size_t>(k)]);
        const double v = ((na + nk) * D(k, a) + (nb + nk) * D(k, b) - nk * best) / (na + nb + nk);
        D(k, a) = D(a, k) = v;
      }
      size[static_cast<size_t>(a)] += size[static_cast<size_t>(b)];
      active[static_cast<size_t>(b)] = 0;
      --remaining;
    } else {
      chain.push_back(b);
    }
  }
  return merges;
}

// The interactions of each user: rows order[start[u]] .. order[start[u+1]-1].
struct ByUser {
  std::vector<int64_t> order, start;
};

ByUser group_by_user(int64_t num_users, const std::vector<int64_t>& user) {
  CountingSort by_user(num_users);
  for (int64_t u : user) by_user.count(u);
  by_user.finish_counts();
  ByUser g;
  g.order.resize(user.size());
  for (size_t t = 0; t < user.size(); ++t) {
    g.order[static_cast<size_t>(by_user.place(user[t]))] = static_cast<int64_t>(t);
  }
  g.start = by_user.offsets();
  return g;
}

int32_t find_root(std::vector<int32_t>& parent, int32_t x) {
  while (parent[static_cast<size_t>(x)] != x) {
    parent[static_cast<size_t>(x)] = parent[static_cast<size_t>(parent[static_cast<size_t>(x)])];
    x = parent[static_cast<size_t>(x)];
  }
  return x;
}

}  // namespace

void check_interest_options(const InterestOptions& o) {
  if (o.max_interests < 1) HR_THROW(UsageError, "--max must be >= 1, got {}", o.max_interests);
  if (!(o.threshold >= 0.0 && std::isfinite(o.threshold))) {
    HR_THROW(UsageError, "--threshold must be auto or a Ward merge cost > 0, got {}",
             o.threshold);
  }
  if (o.max_items < 1) HR_THROW(UsageError, "--max-items must be >= 1, got {}", o.max_items);
  if (o.representatives < 1) {
    HR_THROW(UsageError, "--representatives must be >= 1, got {}", o.representatives);
  }
}

double parse_threshold(const std::string& text, const char* option) {
  if (text == "auto") return 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !(v > 0.0 && std::isfinite(v))) {
    HR_THROW(UsageError,
             "{} must be auto or a Ward merge cost > 0 (the rise in the groups' sum of squared "
             "distances of unit vectors), got '{}'",
             option, text);
  }
  return v;
}

double calibrate_threshold(int64_t num_users, const std::vector<int64_t>& user,
                           const std::vector<int64_t>& item, const std::vector<float>& item_vectors,
                           int64_t dim) {
  constexpr int64_t kPairs = 20000;
  const ByUser grouped = group_by_user(num_users, user);
  const std::vector<int64_t>& order = grouped.order;
  const std::vector<int64_t>& start = grouped.start;
  auto unit_cos = [&](int64_t a, int64_t b) {
    const float* x = item_vectors.data() + a * dim;
    const float* y = item_vectors.data() + b * dim;
    double xy = 0, xx = 0, yy = 0;
    for (int64_t c = 0; c < dim; ++c) {
      xy += static_cast<double>(x[c]) * y[c];
      xx += static_cast<double>(x[c]) * x[c];
      yy += static_cast<double>(y[c]) * y[c];
    }
    return xx > 0 && yy > 0 ? xy / std::sqrt(xx * yy) : 0.0;
  };
  std::mt19937_64 gen(40);
  std::vector<double> dist;
  dist.reserve(kPairs);
  const auto n = static_cast<int64_t>(user.size());
  for (int64_t tries = 0; n > 0 && tries < 5 * kPairs && static_cast<int64_t>(dist.size()) < kPairs;
       ++tries) {
    const int64_t t = static_cast<int64_t>(gen() % static_cast<uint64_t>(n));
    const int64_t u = user[static_cast<size_t>(t)];
    const int64_t b = start[static_cast<size_t>(u)], e = start[static_cast<size_t>(u) + 1];
    if (e - b < 2) continue;
    const auto pick = static_cast<int64_t>(gen() % static_cast<uint64_t>(e - b));
    const int64_t other = order[static_cast<size_t>(b + pick)];
    const int64_t i = item[static_cast<size_t>(t)], j = item[static_cast<size_t>(other)];
    if (other == t || i == j) continue;
    dist.push_back(2.0 - 2.0 * unit_cos(i, j));
  }
  if (dist.empty()) return 1.0;
  const auto mid = dist.begin() + static_cast<std::ptrdiff_t>(dist.size() / 2);
  std::nth_element(dist.begin(), mid, dist.end());
  return std::clamp(*mid, 1e-6, 4.0);
}

void resolve_threshold(int64_t num_users, const std::vector<int64_t>& user,
                       const std::vector<int64_t>& item, const std::vector<float>& item_vectors,
                       int64_t dim, InterestOptions* o) {
  if (o->threshold != 0) return;
  o->threshold = calibrate_threshold(num_users, user, item, item_vectors, dim);
  log::info("interests: threshold {:.3f} (auto: the median 2 - 2 cos of two items of one user)",
            o->threshold);
}

std::vector<int32_t> ward_clusters(const std::vector<float>& points, int64_t n, int64_t dim,
                                   double threshold, int64_t max_clusters) {
  HR_CHECK(threshold > 0, "ward_clusters: threshold {} (an auto threshold is resolved first)",
           threshold);
  HR_CHECK(static_cast<int64_t>(points.size()) == n * dim, "ward_clusters: {} values for {}x{}",
           points.size(), n, dim);
  if (n == 0) return {};
  std::vector<double> d(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) {
      double s = 0;
      for (int64_t c = 0; c < dim; ++c) {
        const double x =
            points[static_cast<size_t>(i * dim + c)] - points[static_cast<size_t>(j * dim + c)];
        s += x * x;
      }
      d[static_cast<size_t>(i * n + j)] = d[static_cast<size_t>(j * n + i)] = s;
    }
  }
  std::vector<Merge> merges = ward_merges(d, n);
  std::stable_sort(merges.begin(), merges.end(),
                   [](const Merge& x, const Merge& y) { return x.cost < y.cost; });
  // Replay in Ward order (costs ascending: Ward's dendrogram is monotone)
  // with union-find: every merge up to `threshold`, then on while more than
  // `max_clusters` groups remain.
  std::vector<int32_t> parent(static_cast<size_t>(n));
  std::iota(parent.begin(), parent.end(), 0);
  int64_t clusters = n;
  for (const Merge& m : merges) {
    if (m.cost > threshold && clusters <= max_clusters) break;
    parent[static_cast<size_t>(find_root(parent, m.b))] = find_root(parent, m.a);
    --clusters;
  }
  std::vector<int32_t> label(static_cast<size_t>(n), -1), id_of(static_cast<size_t>(n), -1);
  int32_t next = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t r = find_root(parent, static_cast<int32_t>(i));
    if (id_of[static_cast<size_t>(r)] < 0) id_of[static_cast<size_t>(r)] = next++;
    label[static_cast<size_t>(i)] = id_of[static_cast<size_t>(r)];
  }
  return label;
}

std::vector<Interest> find_interests(const std::vector<int64_t>& items,
                                     const std::vector<float>& item_vectors, int64_t dim,
                                     const InterestOptions& o) {
  const int64_t n = static_cast<int64_t>(items.size());
  if (n == 0) return {};
  // L2-normalized vectors of the user's items.
  std::vector<float> x(static_cast<size_t>(n * dim));
  for (int64_t r = 0; r < n; ++r) {
    const float* v = item_vectors.data() + items[static_cast<size_t>(r)] * dim;
    double norm = 0;
    for (int64_t c = 0; c < dim; ++c) norm += static_cast<double>(v[c]) * v[c];
    const double inv = norm > 0 ? 1.0 / std::sqrt(norm) : 0.0;
    for (int64_t c = 0; c < dim; ++c)
      x[static_cast<size_t>(r * dim + c)] = static_cast<float>(v[c] * inv);
  }
  const std::vector<int32_t> label = ward_clusters(x, n, dim, o.threshold, o.max_interests);
  const int32_t k = *std::max_element(label.begin(), label.end()) + 1;
  std::vector<Interest> out(static_cast<size_t>(k));
  std::vector<std::vector<int64_t>> rows(static_cast<size_t>(k));
  for (int64_t r = 0; r < n; ++r)
    rows[static_cast<size_t>(label[static_cast<size_t>(r)])].push_back(r);
  for (int32_t c = 0; c < k; ++c) {
    const auto& rs = rows[static_cast<size_t>(c)];
    std::vector<double> centroid(static_cast<size_t>(dim), 0.0);
    for (int64_t r : rs) {
      for (int64_t j = 0; j < dim; ++j)
        centroid[static_cast<size_t>(j)] += x[static_cast<size_t>(r * dim + j)];
    }
    for (double& v : centroid) v /= static_cast<double>(rs.size());
    std::vector<std::pair<double, int64_t>> by_distance;
    for (int64_t r : rs) {
      double s = 0;
      for (int64_t j = 0; j < dim; ++j) {
        const double t = x[static_cast<size_t>(r * dim + j)] - centroid[static_cast<size_t>(j)];
        s += t * t;
      }
      by_distance.emplace_back(s, items[static_cast<size_t>(r)]);
    }
    std::sort(by_distance.begin(), by_distance.end());
    Interest& it = out[static_cast<size_t>(c)];
    it.size = static_cast<int64_t>(rs.size());
    it.weight = static_cast<double>(rs.size()) / static_cast<double>(n);
    it.medoid = by_distance.front().second;
    for (const auto& [dist, item] : by_distance) {
      it.members.push_back(item);
      if (static_cast<int64_t>(it.representatives.size()) < o.representatives) {
        it.representatives.push_back(item);
      }
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Interest& a, const Interest& b) { return a.weight > b.weight; });
  return out;
}

std::vector<int64_t> items_to_cluster(std::vector<int64_t> rows, const std::vector<int64_t>& item,
                                      const std::vector<int64_t>& time, int64_t max_items) {
  if (!time.empty()) {
    std::stable_sort(rows.begin(), rows.end(), [&](int64_t a, int64_t b) {
      return time[static_cast<size_t>(a)] > time[static_cast<size_t>(b)];
    });
  }
  if (static_cast<int64_t>(rows.size()) > max_items) rows.resize(static_cast<size_t>(max_items));
  std::vector<int64_t> items;
  items.reserve(rows.size());
  for (int64_t r : rows) items.push_back(item[static_cast<size_t>(r)]);
  return items;
}

InterestTable interests_for_all(int64_t num_users, const std::vector<int64_t>& user,
                                const std::vector<int64_t>& item, const std::vector<int64_t>& time,
                                const std::vector<float>& item_vectors, int64_t dim,
                                const InterestOptions& options) {
  check_interest_options(options);
  InterestOptions o = options;
  resolve_threshold(num_users, user, item, item_vectors, dim, &o);
  // Each user's interactions, most recent first when times exist.
  const ByUser grouped = group_by_user(num_users, user);
  const std::vector<int64_t>& order = grouped.order;
  const std::vector<int64_t>& start = grouped.start;
  std::vector<std::vector<Interest>> per_user(static_cast<size_t>(num_users));
  // Blocks of users, each over every thread, so that progress can be told.
  Progress progress("interests", "users", num_users);
  constexpr int64_t kBlock = 4096;
  for (int64_t b0 = 0; b0 < num_users; b0 += kBlock) {
    at::parallel_for(b0, std::min(num_users, b0 + kBlock), 16, [&](int64_t b, int64_t e) {
      for (int64_t u = b; u < e; ++u) {
        std::vector<int64_t> rows(order.begin() + start[static_cast<size_t>(u)],
                                  order.begin() + start[static_cast<size_t>(u) + 1]);
        per_user[static_cast<size_t>(u)] = find_interests(
            items_to_cluster(std::move(rows), item, time, o.max_items), item_vectors, dim, o);
      }
    });
    progress.at(std::min(num_users, b0 + kBlock));
  }
  InterestTable t;
  t.r = o.representatives;
  t.threshold = o.threshold;
  t.max_interests = o.max_interests;
  t.user_offsets.push_back(0);
  t.member_offsets.push_back(0);
  for (const auto& list : per_user) {
    for (const Interest& it : list) {
      t.members.insert(t.members.end(), it.members.begin(), it.members.end());
      t.member_offsets.push_back(static_cast<int64_t>(t.members.size()));
      t.weight.push_back(static_cast<float>(it.weight));
      t.size.push_back(it.size);
      t.medoid.push_back(it.medoid);
      for (int64_t j = 0; j < t.r; ++j) {
        t.representatives.push_back(j < static_cast<int64_t>(it.representatives.size())
                                        ? it.representatives[static_cast<size_t>(j)]
                                        : -1);
      }
    }
    t.user_offsets.push_back(static_cast<int64_t>(t.weight.size()));
  }
  return t;
}

std::vector<Interest> interests_of(const InterestTable& t, int64_t user_row) {
  HR_CHECK(user_row >= 0 && static_cast<size_t>(user_row) + 1 < t.user_offsets.size(),
           "user row {} outside the interest table ({} users)", user_row,
           t.user_offsets.empty() ? 0 : t.user_offsets.size() - 1);
  std::vector<Interest> out;
  for (int64_t j = t.user_offsets[static_cast<size_t>(user_row)];
       j < t.user_offsets[static_cast<size_t>(user_row) + 1]; ++j) {
    Interest it;
    it.weight = t.weight[static_cast<size_t>(j)];
    it.size = t.size[static_cast<size_t>(j)];
    it.medoid = t.medoid[static_cast<size_t>(j)];
    for (int64_t r = 0; r < t.r; ++r) {
      const int64_t item = t.representatives[static_cast<size_t>(j * t.r + r)];
      if (item >= 0) it.representatives.push_back(item);
    }
    if (!t.member_offsets.empty()) {
      it.members.assign(t.members.begin() + t.member_offsets[static_cast<size_t>(j)],
                        t.members.begin() + t.member_offsets[static_cast<size_t>(j) + 1]);
    }
    out.push_back(std::move(it));
  }
  return out;
}

}  // namespace halorec::serve

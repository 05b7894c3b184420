#include "baseline/baseline.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <thread>
#include <utility>

#include "core/check.h"
#include "core/counting_sort.h"
#include "core/log.h"
#include "core/output_path.h"
#include "core/resources.h"
#include "data/dataset.h"
#include "model/local_graph.h"
#include "partition/shard.h"
#include "partition/shard_file.h"
#include "serve/model_file.h"

namespace halorec::baseline {

namespace {

// This rank's users and their train items (binary: repeated pairs count
// once), with the shard the evaluator reads.
struct Local {
  partition::Shard shard;
  std::vector<int64_t> users;   // global ids, ascending
  std::vector<int64_t> indptr;  // over users: their train items, ascending
  std::vector<int64_t> items;
  // The transpose: for each item, the local rows of its users.
  std::vector<int64_t> t_indptr;
  std::vector<int64_t> t_rows;
  int64_t num_items = 0;

  // Vectors of every user of this rank (rows of `users`) and of every item,
  // for --out: filled by the methods that have them.
  at::Tensor user_vectors, item_vectors;

  int64_t row_of(int64_t user) const {
    return std::lower_bound(users.begin(), users.end(), user) - users.begin();
  }
};

void slice_users(const data::Interactions& in, int64_t lo, int64_t hi, data::Interactions& out) {
  const auto b = std::lower_bound(in.user.begin(), in.user.end(), lo) - in.user.begin();
  const auto e = std::lower_bound(in.user.begin(), in.user.end(), hi) - in.user.begin();
  out.user.assign(in.user.begin() + b, in.user.begin() + e);
  out.item.assign(in.item.begin() + b, in.item.begin() + e);
  out.weight.assign(in.weight.begin() + b, in.weight.begin() + e);
}

Local load_local(const Options& o, comm::Communicator& comm) {
  Local l;
  if (!o.parts.empty()) {
    const data::DatasetInfo info = data::read_dataset_info(o.dataset);
    const partition::PartitionMeta meta = partition::read_meta(o.parts);
    partition::check_partition_matches(meta, o.parts, o.dataset, info.fingerprint);
    if (meta.num_parts != comm.size()) {
      HR_THROW(UsageError, "--parts '{}' has {} parts: run with as many ranks, not {}", o.parts,
               meta.num_parts, comm.size());
    }
    l.shard = partition::read_shard(o.parts, comm.rank(), meta);
    for (int64_t g : l.shard.owned) {
      if (g < l.shard.num_users) l.users.push_back(g);
    }
  } else {
    const data::Dataset d = data::read_dataset(o.dataset);
    const int64_t U = d.num_users();
    const int64_t P = comm.size();
    const int64_t lo = U * comm.rank() / P;
    const int64_t hi = U * (comm.rank() + 1) / P;
    l.shard.rank = comm.rank();
    l.shard.num_parts = comm.size();
    l.shard.num_users = U;
    l.shard.num_items = d.num_items();
    for (int64_t u = lo; u < hi; ++u) l.users.push_back(u);
    l.shard.owned = l.users;
    slice_users(d.train, lo, hi, l.shard.train);
    slice_users(d.test, lo, hi, l.shard.test);
  }
  l.num_items = l.shard.num_items;
  const auto& tr = l.shard.train;
  l.indptr.assign(1, 0);
  size_t t = 0;
  for (int64_t u : l.users) {
    while (t < tr.size() && tr.user[t] < u) ++t;
    for (; t < tr.size() && tr.user[t] == u; ++t) {
      if (l.items.size() > static_cast<size_t>(l.indptr.back()) && l.items.back() == tr.item[t]) {
        continue;
      }
      l.items.push_back(tr.item[t]);
    }
    l.indptr.push_back(static_cast<int64_t>(l.items.size()));
  }
  const int64_t I = l.num_items;
  CountingSort by_item(I);
  for (int64_t i : l.items) by_item.count(i);
  by_item.finish_counts();
  l.t_rows.resize(l.items.size());
  for (size_t k = 0; k + 1 < l.indptr.size(); ++k) {
    for (int64_t e = l.indptr[k]; e < l.indptr[k + 1]; ++e) {
      l.t_rows[static_cast<size_t>(by_item.place(l.items[e]))] = static_cast<int64_t>(k);
    }
  }
  l.t_indptr = by_item.take_offsets();
  return l;
}

at::Tensor long_tensor(const std::vector<int64_t>& v) {
  return at::tensor(v, at::kLong);
}

// Users (all ranks) of each item: the column sums of the interaction matrix.
at::Tensor item_counts(const Local& l, comm::Communicator& comm) {
  at::Tensor n = at::zeros({l.num_items}, at::kDouble);
  double* np = n.data_ptr<double>();
  for (int64_t i = 0; i < l.num_items; ++i) {
    np[i] = static_cast<double>(l.t_indptr[i + 1] - l.t_indptr[i]);
  }
  comm.all_reduce(n, comm::ReduceOp::kSum);
  return n;
}

// Columns [c0, c1) of the item-item co-occurrence matrix R^T R summed over
// all ranks' users, row-major [c1 - c0, I]: row j - c0 holds, for every item
// i, how many users have both i and j.
template <typename T>
at::Tensor cooccurrence(const Local& l, int64_t c0, int64_t c1, at::ScalarType type,
                        comm::Communicator& comm) {
  const int64_t I = l.num_items;
  at::Tensor c = at::zeros({c1 - c0, I}, type);
  T* cp = c.data_ptr<T>();
  at::parallel_for(c0, c1, 1, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) {
      T* row = cp + (j - c0) * I;
      for (int64_t x = l.t_indptr[j]; x < l.t_indptr[j + 1]; ++x) {
        const int64_t k = l.t_rows[x];
        for (int64_t y = l.indptr[k]; y < l.indptr[k + 1]; ++y) row[l.items[y]] += 1;
      }
    }
  });
  comm.all_reduce(c, comm::ReduceOp::kSum);
  return c;
}

// The rows of test users [b, e) as a dense 0/1 matrix [e - b, I].
at::Tensor history_rows(const Local& l, const std::vector<int64_t>& ids, int64_t b, int64_t e,
                        at::ScalarType type) {
  at::Tensor x = at::zeros({e - b, l.num_items}, at::kFloat);
  float* xp = x.data_ptr<float>();
  for (int64_t k = b; k < e; ++k) {
    const int64_t r = l.row_of(ids[k]);
    for (int64_t y = l.indptr[r]; y < l.indptr[r + 1]; ++y) {
      xp[(k - b) * l.num_items + l.items[y]] = 1.f;
    }
  }
  return type == at::kFloat ? x : x.to(type);
}

using Scorer = train::Evaluator::ScoreFn;

Scorer fit_popularity(Local& l, comm::Communicator& comm, Result&) {
  const at::Tensor pop = item_counts(l, comm).to(at::kFloat);
  l.user_vectors = at::ones({static_cast<int64_t>(l.users.size()), 1}, at::kFloat);
  l.item_vectors = pop.unsqueeze(1).clone();
  return [pop](int64_t b, int64_t e) { return pop.unsqueeze(0).expand({e - b, -1}).clone(); };
}

Scorer fit_itemknn(const Local& l, const Options& o, comm::Communicator& comm, Result& res,
                   const std::vector<int64_t>& ids) {
  const int64_t I = l.num_items;
  const int64_t K = std::max<int64_t>(1, std::min(o.neighbors, I - 1));
  const at::Tensor n = item_counts(l, comm);
  const double* np = n.data_ptr<double>();
  // Top-K neighbours of each item j (the items whose history votes for j),
  // fixed slots: nb_item[j * K + r], count nb_len[j].
  std::vector<int64_t> nb_item(static_cast<size_t>(I * K), 0);
  std::vector<float> nb_sim(static_cast<size_t>(I * K), 0.f);
  std::vector<int64_t> nb_len(static_cast<size_t>(I), 0);
  const int64_t block = std::max<int64_t>(1, std::min<int64_t>(I, (int64_t{256} << 20) / (4 * I)));
  for (int64_t c0 = 0; c0 < I; c0 += block) {
    const int64_t c1 = std::min(I, c0 + block);
    // Counts below 2^24 are exact in float.
    const at::Tensor c = cooccurrence<float>(l, c0, c1, at::kFloat, comm);
    const float* cp = c.data_ptr<float>();
    at::parallel_for(c0, c1, 1, [&](int64_t b, int64_t e) {
      std::vector<std::pair<float, int64_t>> cand;
      for (int64_t j = b; j < e; ++j) {
        cand.clear();
        const float* row = cp + (j - c0) * I;
        for (int64_t i = 0; i < I; ++i) {
          if (i == j || row[i] == 0.f) continue;
          const double s = row[i] / (std::sqrt(np[i] * np[j]) + o.shrink);
          cand.emplace_back(static_cast<float>(s), i);
        }
        const int64_t keep = std::min<int64_t>(K, static_cast<int64_t>(cand.size()));
        std::partial_sort(cand.begin(), cand.begin() + keep, cand.end(),
                          [](const auto& x, const auto& y) {
                            return x.first != y.first ? x.first > y.first : x.second < y.second;
                          });
        for (int64_t r = 0; r < keep; ++r) {
          nb_item[static_cast<size_t>(j * K + r)] = cand[static_cast<size_t>(r)].second;
          nb_sim[static_cast<size_t>(j * K + r)] = cand[static_cast<size_t>(r)].first;
        }
        nb_len[static_cast<size_t>(j)] = keep;
      }
    });
  }
  // By history item: row i lists the items j that keep i as a neighbour,
  // so a user's scores are the sum of the rows of their items.
  CountingSort by_history_item(I);
  for (int64_t j = 0; j < I; ++j) {
    for (int64_t r = 0; r < nb_len[static_cast<size_t>(j)]; ++r) {
      by_history_item.count(nb_item[static_cast<size_t>(j * K + r)]);
    }
  }
  by_history_item.finish_counts();
  std::vector<int64_t> col(static_cast<size_t>(by_history_item.records()));
  std::vector<float> val(col.size());
  for (int64_t j = 0; j < I; ++j) {
    for (int64_t r = 0; r < nb_len[static_cast<size_t>(j)]; ++r) {
      const size_t at =
          static_cast<size_t>(by_history_item.place(nb_item[static_cast<size_t>(j * K + r)]));
      col[at] = j;
      val[at] = nb_sim[static_cast<size_t>(j * K + r)];
    }
  }
  const std::vector<int64_t>& indptr = by_history_item.offsets();
  res.info["neighbors_per_item"] = I == 0 ? 0.0 : static_cast<double>(col.size()) / I;
  return [&l, &ids, I, indptr = std::move(indptr), col = std::move(col), val = std::move(val)](
             int64_t b, int64_t e) {
    at::Tensor scores = at::zeros({e - b, I}, at::kFloat);
    float* sp = scores.data_ptr<float>();
    at::parallel_for(b, e, 16, [&](int64_t ub, int64_t ue) {
      for (int64_t k = ub; k < ue; ++k) {
        float* row = sp + (k - b) * I;
        const int64_t r = l.row_of(ids[k]);
        for (int64_t y = l.indptr[r]; y < l.indptr[r + 1]; ++y) {
          const int64_t i = l.items[y];
          for (int64_t x = indptr[i]; x < indptr[i + 1]; ++x) row[col[x]] += val[x];
        }
      }
    });
    return scores;
  };
}

Scorer fit_ease(const Local& l, const Options& o, comm::Communicator& comm, Result& res,
                const std::vector<int64_t>& ids) {
  const int64_t I = l.num_items;
  const double need = 3.0 * static_cast<double>(I) * static_cast<double>(I) * 8.0;
  const double limit = o.max_memory_gib * static_cast<double>(int64_t{1} << 30);
  if (need > limit) {
    HR_THROW(UsageError,
             "ease solves a dense {} x {} item system: {:.3g} GiB per rank (3 x items^2 "
             "doubles) > --max-memory {} GiB; use itemknn or gfcf, or raise --max-memory",
             I, I, need / static_cast<double>(int64_t{1} << 30), o.max_memory_gib);
  }
  at::Tensor g = cooccurrence<double>(l, 0, I, at::kDouble, comm);  // symmetric
  g.diagonal().add_(o.lambda);
  at::Tensor p = at::cholesky_inverse(at::linalg_cholesky(g));
  g = at::Tensor();
  // B = I - P diag(1 / diag P), diagonal zero: B_ij = -P_ij / P_jj.
  at::Tensor w = p.div(p.diagonal().neg().unsqueeze(0));
  w.diagonal().zero_();
  res.info["lambda"] = o.lambda;
  return [&l, &ids, w](int64_t b, int64_t e) {
    return at::mm(history_rows(l, ids, b, e, at::kDouble), w).to(at::kFloat);
  };
}

Scorer fit_gfcf(Local& l, const Options& o, comm::Communicator& comm, Result& res,
                const std::vector<int64_t>& ids) {
  const int64_t I = l.num_items;
  const int64_t Ul = static_cast<int64_t>(l.users.size());
  const at::Tensor n = item_counts(l, comm);
  const at::Tensor d_item = at::where(n > 0, n.rsqrt(), at::zeros_like(n));  // D_i^-1/2
  const at::Tensor s_item = n.sqrt();                                        // D_i^1/2
  const double* dp = d_item.data_ptr<double>();
  // R~ = D_u^-1/2 R D_i^-1/2 over this rank's users, and its transpose.
  std::vector<float> val(l.items.size());
  for (int64_t k = 0; k < Ul; ++k) {
    const double du =
        1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(1, l.indptr[k + 1] - l.indptr[k])));
    for (int64_t y = l.indptr[k]; y < l.indptr[k + 1]; ++y) {
      val[static_cast<size_t>(y)] = static_cast<float>(du * dp[l.items[y]]);
    }
  }
  std::vector<float> t_val(l.t_rows.size());
  {
    std::vector<int64_t> fill(l.t_indptr.begin(), l.t_indptr.end() - 1);
    for (int64_t k = 0; k < Ul; ++k) {
      for (int64_t y = l.indptr[k]; y < l.indptr[k + 1]; ++y) {
        t_val[static_cast<size_t>(fill[static_cast<size_t>(l.items[y])]++)] =
            val[static_cast<size_t>(y)];
      }
    }
  }
  const at::Tensor rip = long_tensor(l.indptr), rcol = long_tensor(l.items),
                   rval = at::tensor(val, at::kFloat);
  const at::Tensor tip = long_tensor(l.t_indptr), tcol = long_tensor(l.t_rows),
                   tval = at::tensor(t_val, at::kFloat);
  // A Q = R~^T (R~ Q): a sum over ranks of their users' terms.
  auto gram = [&](const at::Tensor& q) {
    at::Tensor z =
        model::spmm_forward(tip, tcol, tval, I, model::spmm_forward(rip, rcol, rval, Ul, q));
    comm.all_reduce(z, comm::ReduceOp::kSum);
    return z;
  };
  // Top right singular vectors of R~ = top eigenvectors of R~^T R~, by
  // subspace iteration with Rayleigh-Ritz; rank 0's orthonormal basis is the
  // one every rank uses, so all ranks hold the same vectors.
  const int64_t rank = std::min(o.rank, I);
  const int64_t width = std::min(I, rank + o.oversample);
  at::Tensor q;
  {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
    q = std::get<0>(at::linalg_qr(at::randn({I, width}, gen, at::kDouble)));
  }
  for (int64_t it = 0; it < o.power_iters; ++it) {
    q = std::get<0>(at::linalg_qr(gram(q))).contiguous();
    comm.broadcast(q, 0);
  }
  at::Tensor t = at::mm(q.t(), gram(q));
  t = (t + t.t()) * 0.5;
  const auto [evals, evecs] = at::linalg_eigh(t);  // ascending
  at::Tensor v = at::mm(q, evecs.slice(1, width - rank, width)).contiguous();
  comm.broadcast(v, 0);
  res.info["sigma_max"] = std::sqrt(std::max(0.0, evals[width - 1].item<double>()));
  res.info["sigma_rank"] = std::sqrt(std::max(0.0, evals[width - rank].item<double>()));
  const at::Tensor vf = v.to(at::kFloat);
  const at::Tensor df = d_item.to(at::kFloat).unsqueeze(0);
  const at::Tensor sf = s_item.to(at::kFloat).unsqueeze(0);
  const float alpha = static_cast<float>(o.alpha);
  const int P = comm.size();
  if (!o.out.empty()) {
    // The low-pass term as vectors: user r_u D_i^-1/2 V, item alpha D_i^1/2 V.
    std::vector<float> ud(l.items.size());
    const float* dfp = df.data_ptr<float>();
    for (size_t y = 0; y < l.items.size(); ++y) ud[y] = dfp[l.items[y]];
    l.user_vectors = model::spmm_forward(rip, rcol, at::tensor(ud, at::kFloat), Ul, vf);
    l.item_vectors = vf * sf.t() * alpha;
  }
  return [&l, &ids, &comm, rip, rcol, rval, tip, tcol, tval, vf, df, sf, alpha, I, Ul, P](
             int64_t b, int64_t e) {
    // r R~^T R~ for the block's users needs every rank's users: each rank
    // computes its term for all ranks' blocks, and each block's terms are
    // summed at its rank.
    // The block's train items: as (row, item) pairs for the other ranks, and
    // as a CSR weighted by D_i^-1/2 for the low-pass term.
    std::vector<int64_t> pairs, bp(1, 0), bc;
    std::vector<float> bv;
    const float* dfp = df.data_ptr<float>();
    for (int64_t k = b; k < e; ++k) {
      const int64_t r = l.row_of(ids[k]);
      for (int64_t y = l.indptr[r]; y < l.indptr[r + 1]; ++y) {
        pairs.push_back(k - b);
        pairs.push_back(l.items[y]);
        bc.push_back(l.items[y]);
        bv.push_back(dfp[l.items[y]]);
      }
      bp.push_back(static_cast<int64_t>(bc.size()));
    }
    const at::Tensor mine = long_tensor(pairs).view({-1, 2});
    std::vector<int64_t> pcount;
    const at::Tensor all_pairs = comm.all_gather_v(mine, &pcount).contiguous();
    const at::Tensor sizes_t = comm.all_gather_v(at::tensor({e - b}, at::kLong));
    std::vector<int64_t> sizes(sizes_t.data_ptr<int64_t>(), sizes_t.data_ptr<int64_t>() + P);
    int64_t total = 0;
    for (int64_t s : sizes) total += s;
    at::Tensor xt = at::zeros({I, total}, at::kFloat);
    float* xp = xt.data_ptr<float>();
    const int64_t* pp = all_pairs.data_ptr<int64_t>();
    int64_t row0 = 0, pos = 0;
    for (int peer = 0; peer < P; ++peer) {
      for (int64_t x = 0; x < pcount[static_cast<size_t>(peer)]; ++x, ++pos) {
        xp[pp[2 * pos + 1] * total + row0 + pp[2 * pos]] = 1.f;
      }
      row0 += sizes[static_cast<size_t>(peer)];
    }
    const at::Tensor w = model::spmm_forward(rip, rcol, rval, Ul, xt);  // [Ul, total]
    const at::Tensor terms = model::spmm_forward(tip, tcol, tval, I, w).t().contiguous();
    const at::Tensor got =
        comm.all_to_all_v(terms, sizes, std::vector<int64_t>(static_cast<size_t>(P), e - b));
    at::Tensor scores = got.view({P, e - b, I}).sum(0);
    if (e > b) {
      // (r D_i^-1/2) V as a sparse product, then the dense (.) V^T D_i^1/2.
      const at::Tensor xv = model::spmm_forward(long_tensor(bp), long_tensor(bc),
                                                at::tensor(bv, at::kFloat), e - b, vf);
      scores.add_(at::mm(xv, vf.t()) * sf, alpha);
    }
    return scores;
  };
}

// Rank 0 writes the users' and items' vectors as model.h5 (users gathered
// from every rank, in dense id order). Collective.
void write_vectors(const Local& l, const Options& o, const Result& res, comm::Communicator& comm) {
  const at::Tensor ids = comm.all_gather_v(long_tensor(l.users));
  const at::Tensor vecs = comm.all_gather_v(l.user_vectors.contiguous());
  if (comm.rank() != 0) return;
  const data::Dataset d = data::read_dataset(o.dataset);
  serve::ModelFile m;
  m.dim = l.item_vectors.size(1);
  m.user_ids = d.user_ids;
  m.item_ids = d.item_ids;
  at::Tensor users = at::zeros({d.num_users(), m.dim}, at::kFloat);
  users.index_copy_(0, ids, vecs);
  const at::Tensor items = l.item_vectors.contiguous();
  m.user_vectors.assign(users.data_ptr<float>(), users.data_ptr<float>() + users.numel());
  m.item_vectors.assign(items.data_ptr<float>(), items.data_ptr<float>() + items.numel());
  m.model_type = o.method == "gfcf" ? "gfcf-lowpass" : o.method;
  m.score = "dot";
  m.dataset_fingerprint = d.fingerprint();
  std::string metrics = "{";
  for (const auto& [name, value] : res.eval.metrics) {
    metrics += fmt::format("{}\"{}\": {}", metrics.size() > 1 ? ", " : "", name, value);
  }
  m.metrics_json = metrics + "}";
  serve::write_model_file(m, o.out);
  log::info("wrote {} ({} users, {} items, dim {}{})", o.out, d.num_users(), d.num_items(), m.dim,
            o.method == "gfcf" ? "; the low-pass term of gfcf only" : "");
}

}  // namespace

void check_options(const Options& o) {
  static const char* methods[] = {"popularity", "itemknn", "ease", "gfcf"};
  if (std::find_if(std::begin(methods), std::end(methods),
                   [&](const char* m) { return o.method == m; }) == std::end(methods)) {
    HR_THROW(UsageError, "--method must be popularity, itemknn, ease or gfcf, got '{}'", o.method);
  }
  if (o.topk.empty()) HR_THROW(UsageError, "--k needs at least one cut-off");
  for (int64_t k : o.topk) {
    if (k < 1 || k > 10000) HR_THROW(UsageError, "--k must be in 1..10000, got {}", k);
  }
  auto range = [](const char* name, double v, double lo, double hi) {
    if (!(v >= lo && v <= hi))
      HR_THROW(UsageError, "{} must be in {}..{}, got {}", name, lo, hi, v);
  };
  range("--batch-users", static_cast<double>(o.batch_users), 1, 1 << 20);
  range("--threads", static_cast<double>(o.threads), 0, 4096);
  range("--neighbors", static_cast<double>(o.neighbors), 1, 1e6);
  range("--shrink", o.shrink, 0, 1e9);
  range("--lambda", o.lambda, 1e-9, 1e12);
  range("--max-memory", o.max_memory_gib, 1e-6, 1e6);
  range("--rank", static_cast<double>(o.rank), 1, 1e5);
  range("--alpha", o.alpha, 0, 1e6);
  range("--oversample", static_cast<double>(o.oversample), 0, 1e5);
  range("--power-iters", static_cast<double>(o.power_iters), 0, 1000);
  if (!o.out.empty() && (o.method == "itemknn" || o.method == "ease")) {
    HR_THROW(UsageError,
             "--out: {} scores through an item x item matrix, not user and item vectors, so "
             "model.h5 cannot hold it (popularity and gfcf's low-pass term can be exported)",
             o.method);
  }
}

Result run_baseline(const Options& o, comm::Communicator& comm) {
  check_options(o);
  Stopwatch total;
  at::NoGradGuard no_grad;
  const int64_t threads = thread_count(o.threads, comm.local_size(), "--threads");
  at::set_num_threads(static_cast<int>(threads));
  std::optional<PathLock> lock;
  if (!o.out.empty() && comm.rank() == 0) {
    lock.emplace(lock_output({"--out", o.out}, false));
    check_output_file({"--out", o.out}, {{"--dataset", o.dataset}, {"--parts", o.parts}},
                      serve::is_model_file);
  }
  Local l = load_local(o, comm);
  at::Tensor nusers = at::tensor({static_cast<int64_t>(l.users.size())}, at::kLong);
  comm.all_reduce(nusers, comm::ReduceOp::kSum);
  Result res;
  res.users = nusers.item<int64_t>();
  if (comm.rank() == 0) {
    log::info("baseline {}: {} users, {} items, {} ranks, {} threads each", o.method, res.users,
              l.num_items, comm.size(), threads);
  }
  const train::Evaluator evaluator(l.shard, o.topk, o.batch_users,
                                   train::eval_user_fraction(l.shard, o.eval_users, comm));
  const std::vector<int64_t> ids = evaluator.test_user_ids();
  Scorer score;
  if (o.method == "popularity") {
    score = fit_popularity(l, comm, res);
  } else if (o.method == "itemknn") {
    score = fit_itemknn(l, o, comm, res, ids);
  } else if (o.method == "ease") {
    score = fit_ease(l, o, comm, res, ids);
  } else {
    score = fit_gfcf(l, o, comm, res, ids);
  }
  res.fit_seconds = total.seconds();
  if (comm.rank() == 0) log::info("fitted in {:.2f} s; scoring every test user", res.fit_seconds);
  res.eval = evaluator.evaluate_scores(score, comm, true);
  if (!o.out.empty()) write_vectors(l, o, res, comm);
  at::Tensor rss = at::tensor({static_cast<double>(peak_rss_bytes())}, at::kDouble);
  comm.all_reduce(rss, comm::ReduceOp::kMax);
  res.peak_rss_bytes = static_cast<int64_t>(rss.item<double>());
  res.seconds = total.seconds();
  return res;
}

}  // namespace halorec::baseline

#include "baseline/baseline.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <thread>
#include <utility>

#include "baseline/filters.h"
#include "baseline/local.h"
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

// Rank 0 writes the users' and items' vectors as model.h5 (users gathered
// from every rank, in dense id order). Collective.
void write_vectors(const Local& l, const Options& o, const Result& res,
                   const model::GraphFilter& filter, comm::Communicator& comm) {
  const at::Tensor ids = comm.all_gather_v(long_tensor(l.users));
  const at::Tensor vecs = comm.all_gather_v(l.user_vectors.contiguous());
  // A filter's model keeps every user's train row: each rank's rows, with
  // their lengths, gathered in rank order (as `ids`).
  at::Tensor lengths, row_items;
  if (!filter.settings.kind.empty()) {
    std::vector<int64_t> len;
    for (size_t k = 0; k + 1 < l.indptr.size(); ++k) len.push_back(l.indptr[k + 1] - l.indptr[k]);
    lengths = comm.all_gather_v(long_tensor(len));
    row_items = comm.all_gather_v(long_tensor(l.items));
  }
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
  m.model_type = o.method;
  if (!filter.settings.kind.empty()) {
    const int64_t U = d.num_users();
    const int64_t* idp = ids.data_ptr<int64_t>();
    const int64_t* lp = lengths.data_ptr<int64_t>();
    const int64_t* ip = row_items.data_ptr<int64_t>();
    std::vector<int64_t> start(static_cast<size_t>(U), 0), len(static_cast<size_t>(U), 0);
    int64_t at_ = 0;
    for (int64_t r = 0; r < ids.size(0); ++r) {
      start[static_cast<size_t>(idp[r])] = at_;
      len[static_cast<size_t>(idp[r])] = lp[r];
      at_ += lp[r];
    }
    m.filter = filter.settings;
    m.filter_indptr.assign(1, 0);
    for (int64_t u = 0; u < U; ++u) {
      m.filter_items.insert(m.filter_items.end(), ip + start[static_cast<size_t>(u)],
                            ip + start[static_cast<size_t>(u)] + len[static_cast<size_t>(u)]);
      m.filter_indptr.push_back(static_cast<int64_t>(m.filter_items.size()));
    }
    const at::Tensor counts = filter.item_counts.contiguous();
    m.filter_item_counts.assign(counts.data_ptr<double>(),
                                counts.data_ptr<double>() + counts.numel());
    const at::Tensor basis = filter.basis.contiguous();
    m.filter_rank = basis.size(1);
    m.filter_basis.assign(basis.data_ptr<float>(), basis.data_ptr<float>() + basis.numel());
  }
  m.score = "dot";
  m.dataset_fingerprint = d.fingerprint();
  m.dataset_path = std::filesystem::absolute(o.dataset).lexically_normal().string();
  std::string metrics = "{";
  for (const auto& [name, value] : res.eval.metrics) {
    metrics += fmt::format("{}\"{}\": {}", metrics.size() > 1 ? ", " : "", name, value);
  }
  m.metrics_json = metrics + "}";
  m.item_names = d.item_names;
  serve::write_model_file(m, o.out);
  log::info("wrote {} ({} users, {} items, dim {}{})", o.out, d.num_users(), d.num_items(), m.dim,
            filter.settings.kind.empty() ? "" : "; the filter with its train matrix and basis");
}

}  // namespace

void check_options(const Options& o) {
  static const char* methods[] = {"popularity", "itemknn", "ease", "gfcf", "bspm", "chebycf"};
  if (std::find_if(std::begin(methods), std::end(methods),
                   [&](const char* m) { return o.method == m; }) == std::end(methods)) {
    HR_THROW(UsageError,
             "--method must be popularity, itemknn, ease, gfcf, bspm or chebycf, got '{}'",
             o.method);
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
  if (o.rank) range("--rank", static_cast<double>(*o.rank), 1, 1e5);
  if (o.alpha) range("--alpha", *o.alpha, 0, 1e6);
  range("--t-blur", o.t_blur, 0, 1e3);
  range("--blur-steps", static_cast<double>(o.blur_steps), 1, 1e3);
  range("--t-sharpen", o.t_sharpen, 0, 1e3);
  range("--sharpen-steps", static_cast<double>(o.sharpen_steps), 1, 1e3);
  for (const auto& [name, solver] :
       {std::pair<const char*, const std::string&>{"--blur-solver", o.blur_solver},
        {"--sharpen-solver", o.sharpen_solver}}) {
    if (solver != "euler" && solver != "rk4") {
      HR_THROW(UsageError, "{} must be euler or rk4, got '{}'", name, solver);
    }
  }
  range("--order", static_cast<double>(o.order), 1, 100);
  range("--flatness", o.flatness, 1e-3, 1e3);
  range("--beta", o.beta, 0, 10);
  range("--oversample", static_cast<double>(o.oversample), 0, 1e5);
  range("--power-iters", static_cast<double>(o.power_iters), 0, 1000);
  if (!o.out.empty() && (o.method == "itemknn" || o.method == "ease")) {
    HR_THROW(UsageError,
             "--out: {} scores through an item x item matrix, not user and item vectors, so "
             "model.h5 cannot hold it (popularity and the filters gfcf, bspm, chebycf can be "
             "exported)",
             o.method);
  }
  range("--select-on-validation", o.select_validation, 0, 0.9);
  range("--select-users", static_cast<double>(o.select_users), 0, 1e9);
  if (o.select_validation > 0 &&
      !(o.method == "gfcf" || o.method == "bspm" || o.method == "chebycf")) {
    HR_THROW(UsageError,
             "--select-on-validation chooses a graph filter's settings (gfcf, bspm, "
             "chebycf); {} has none to choose here",
             o.method);
  }
  if (!o.out.empty() && o.alpha && *o.alpha == 0 &&
      (o.method == "gfcf" || o.method == "bspm" || o.method == "chebycf")) {
    HR_THROW(UsageError,
             "--out: a filter's model.h5 keeps its ideal low-pass term as its vectors; "
             "--alpha 0 has none (give --alpha > 0)");
  }
}

namespace {

// Every rank's need, the largest printed; above --max-memory: UsageError.
void check_filter_memory(const Local& l, const Options& o, comm::Communicator& comm, Result& res) {
  const FilterMemory m = filter_memory(l, o, comm.size());
  at::Tensor need = at::tensor({m.graph, m.basis, m.scoring}, at::kDouble);
  comm.all_reduce(need, comm::ReduceOp::kMax);
  const double* np = need.data_ptr<double>();
  const double gib = static_cast<double>(int64_t{1} << 30);
  const double need_bytes = np[0] + np[1] + np[2];
  if (comm.rank() == 0) {
    log::info(
        "{} needs about {:.2f} GiB per rank (process and graph {:.2f}, low-pass basis "
        "{:.2f}, scoring blocks {:.2f}); --max-memory {} GiB",
        o.method, need_bytes / gib, np[0] / gib, np[1] / gib, np[2] / gib, o.max_memory_gib);
  }
  res.info["memory_estimate_bytes"] = need_bytes;
  if (need_bytes > o.max_memory_gib * gib) {
    HR_THROW(UsageError,
             "{} needs about {:.3g} GiB per rank (process and graph {:.3g}, low-pass basis "
             "{:.3g}, scoring blocks {:.3g}) > --max-memory {} GiB; run on more ranks, lower "
             "--rank or --batch-users, or raise --max-memory",
             o.method, need_bytes / gib, np[0] / gib, np[1] / gib, np[2] / gib, o.max_memory_gib);
  }
}

// The values tried for each setting, in the order the sweep visits them.
std::vector<std::pair<std::string, std::vector<double>>> selection_grid(const std::string& method) {
  if (method == "gfcf") return {{"alpha", {0, 0.1, 0.2, 0.3, 0.5, 1}}};
  if (method == "bspm") {
    return {{"t_sharpen", {1, 1.5, 2, 2.5, 3, 4}},
            {"alpha", {0, 0.1, 0.2, 0.3, 0.5}},
            {"t_blur", {0.5, 1, 1.5}}};
  }
  return {{"flatness", {1, 1.5, 2, 3, 5, 15}},
          {"alpha", {0, 0.1, 0.2, 0.3}},
          {"beta", {0.2, 0.3, 0.4, 0.5}}};
}

void set_setting(model::FilterSettings& s, const std::string& name, double v) {
  if (name == "alpha") s.alpha = v;
  if (name == "t_sharpen") s.t_sharpen = v;
  if (name == "t_blur") s.t_blur = v;
  if (name == "flatness") s.flatness = v;
  if (name == "beta") s.beta = v;
}

// A coordinate sweep from the given settings on a validation carve of train:
// each setting of the grid in turn over its values, the others at the best
// so far; a value replaces the best only when it ranks strictly better.
model::FilterSettings select_on_validation(const Options& o, comm::Communicator& comm,
                                           Result& res) {
  Local lv = load_local(o.dataset, o.parts, comm, o.select_validation, o.validation_seed);
  train::Evaluator val(
      lv.shard, o.topk, o.batch_users,
      train::eval_user_fraction(lv.shard, o.select_users, comm, train::EvalSplit::kValidation),
      train::ItemPlacement::kAuto, train::EvalSplit::kValidation);
  val.report_progress("scoring validation");
  const std::vector<int64_t> ids = val.test_user_ids();
  Result scratch;
  const FilterFit fit(lv, o, comm, scratch, true);
  const std::string metric = fmt::format("recall@{}", o.topk.front());
  model::FilterSettings best = filter_settings(o);
  double best_value = -1;
  auto trial = [&](const model::FilterSettings& s) {
    for (const Result::Trial& t : res.trials) {
      if (t.settings == settings_map(s)) return t.validation.at(metric);
    }
    Stopwatch watch;
    const train::EvalResult r = val.evaluate_scores(fit.scorer(s, ids), comm, false);
    res.trials.push_back({settings_map(s), r.metrics, watch.seconds()});
    if (comm.rank() == 0) {
      std::string line;
      for (const auto& [name, value] : settings_map(s)) line += fmt::format("{} {} ", name, value);
      log::info("validation ({} users): {}-> {} {:.5f} ({:.1f} s)", r.users, line, metric,
                r.metrics.at(metric), watch.seconds());
    }
    return r.metrics.at(metric);
  };
  best_value = trial(best);
  for (const auto& [name, values] : selection_grid(o.method)) {
    for (double v : values) {
      model::FilterSettings s = best;
      set_setting(s, name, v);
      const double x = trial(s);
      if (x > best_value) {
        best_value = x;
        best = s;
      }
    }
  }
  res.chosen = settings_map(best);
  return best;
}

}  // namespace

std::map<std::string, double> settings_map(const model::FilterSettings& s) {
  std::map<std::string, double> m{{"alpha", s.alpha}};
  if (s.kind == "bspm") {
    m["t_blur"] = s.t_blur;
    m["t_sharpen"] = s.t_sharpen;
  } else if (s.kind == "chebycf") {
    m["flatness"] = s.flatness;
    m["beta"] = s.beta;
  }
  return m;
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
  Local l = load_local(o.dataset, o.parts, comm);
  at::Tensor nusers = at::tensor({static_cast<int64_t>(l.users.size())}, at::kLong);
  comm.all_reduce(nusers, comm::ReduceOp::kSum);
  Result res;
  res.users = nusers.item<int64_t>();
  if (comm.rank() == 0) {
    log::info("baseline {}: {} users, {} items, {} ranks, {} threads each", o.method, res.users,
              l.num_items, comm.size(), threads);
  }
  train::Evaluator evaluator(l.shard, o.topk, o.batch_users,
                             train::eval_user_fraction(l.shard, o.eval_users, comm));
  evaluator.report_progress("scoring test");
  const std::vector<int64_t> ids = evaluator.test_user_ids();
  Scorer score;
  model::GraphFilter filter;
  model::FilterSettings given, chosen;
  std::optional<FilterFit> fit;
  if (o.method == "popularity") {
    score = fit_popularity(l, comm, res);
  } else if (o.method == "itemknn") {
    score = fit_itemknn(l, o, comm, res, ids);
  } else if (o.method == "ease") {
    score = fit_ease(l, o, comm, res, ids);
  } else {
    check_filter_memory(l, o, comm, res);
    given = filter_settings(o);
    chosen = o.select_validation > 0 ? select_on_validation(o, comm, res) : given;
    fit.emplace(l, o, comm, res, chosen.alpha > 0 || given.alpha > 0);
    for (const auto& [name, value] : settings_map(chosen)) res.info[name] = value;
    score = fit->scorer(chosen, ids);
    filter = fit->filter(chosen);
    if (!o.out.empty()) fit->low_pass_vectors(chosen);
  }
  res.fit_seconds = total.seconds();
  if (comm.rank() == 0) log::info("fitted in {:.2f} s; scoring every test user", res.fit_seconds);
  res.eval = evaluator.evaluate_scores(score, comm, true);
  if (fit && o.select_validation > 0) {
    // The settings as given (the published ones by default), on test too.
    if (settings_map(chosen) == settings_map(given)) {
      res.given_test = res.eval.metrics;
    } else {
      res.given_test = evaluator.evaluate_scores(fit->scorer(given, ids), comm, true).metrics;
    }
  }
  if (!o.out.empty()) write_vectors(l, o, res, filter, comm);
  at::Tensor rss = at::tensor({static_cast<double>(peak_rss_bytes())}, at::kDouble);
  comm.all_reduce(rss, comm::ReduceOp::kMax);
  res.peak_rss_bytes = static_cast<int64_t>(rss.item<double>());
  res.seconds = total.seconds();
  return res;
}

}  // namespace halorec::baseline

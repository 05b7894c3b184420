// export, recommend, evaluate: from a checkpoint to serving, and back to metrics.

#include <algorithm>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <mpi.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "comm/communicator.h"
#include "comm/communicator_factory.h"
#include "comm/mpi_runtime.h"
#include "core/check.h"
#include "core/digest.h"
#include "core/log.h"
#include "core/quote.h"
#include "core/resources.h"
#include "serve/interests.h"
#include "data/line_reader.h"
#include "serve/export.h"
#include "serve/recommend.h"

namespace halorec::cli {

namespace {

// --allow-readable-key, for every command that reads a key file.
void add_allow_readable_key(CLI::App* sub, bool* allow) {
  sub->add_flag("--allow-readable-key", *allow,
                "Accept a key file that its group or others can read (refused otherwise, as ssh "
                "refuses such private keys)");
}

// The key of a pseudonymized model, or "" without --key.
std::string key_of(const std::string& key_file, bool allow_readable) {
  return key_file.empty() ? std::string() : read_key_file(key_file, allow_readable);
}

class ExportCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand(
        "export", "Write the final user and item vectors of a checkpoint to model.h5 for serving");
    sub->add_option("--checkpoint", o_.checkpoint,
                    "A checkpoint, or a folder whose newest committed checkpoint is used")
        ->required();
    sub->add_option("--out", o_.out, "Output model file (written atomically)")->required();
    sub->add_option("--dtype", o_.dtype, "Vector storage: fp32 or fp16")
        ->check(CLI::IsMember({"fp32", "fp16"}));
    sub->add_option("--dataset", o_.dataset,
                    "Dataset (default: data.dataset of the checkpoint's config)");
    sub->add_flag("--interests", o_.interests,
                  "Also store every user's interests (see 'halorec interests') for "
                  "'recommend --strategy multi'");
    sub->add_option("--max-interests", o_.interest_options.max_interests,
                    "With --interests: at most this many per user");
    sub->add_option("--interest-threshold", o_.interest_options.threshold,
                    "With --interests: stop merging item groups whose centroids are farther "
                    "apart than this (2 - 2 cos)");
    sub->add_option("--pseudonymize", o_.pseudonymize_key_file,
                    "KEY_FILE: store user ids as HMAC-SHA256(key, id), rows in pseudonym order "
                    "(docs/interests.md)");
    add_allow_readable_key(sub, &o_.allow_readable_key);
    sub->add_option("--parts", o_.parts,
                    "Under mpirun -np P: the P-part partition folder to export by (default: the "
                    "run's data.parts; made on the fly when absent or for another rank count)");
    sub->add_flag("--json", json_, "Print the report as one JSON object on stdout");
    return sub;
  }
  int run() override {
    comm::MpiRuntime mpi(nullptr, nullptr);
    if (o_.interests) serve::check_interest_options(o_.interest_options);
    int ranks = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    if (ranks == 1) {
      if (!o_.parts.empty()) {
        HR_THROW(UsageError, "--parts is for an export under mpirun -np P (P > 1)");
      }
      return report(serve::run_export(o_), 0);
    }
    // Each rank exports its shard and writes its own rows (docs/formats.md).
    return comm::run_or_abort_job([&] {
      auto comm = comm::make_communicator("mpi", false, 600);
      const serve::ExportReport r = serve::run_sharded_export(o_, *comm);
      return comm->rank() == 0 ? report(r, comm->size()) : 0;
    });
  }

 private:
  int report(const serve::ExportReport& r, int ranks) const {
    const nlohmann::json j = {{"checkpoint", r.checkpoint},
                              {"out", r.out},
                              {"users", r.users},
                              {"items", r.items},
                              {"dim", r.dim},
                              {"bytes", r.bytes},
                              {"dtype", o_.dtype},
                              {"seconds", r.seconds},
                              {"interests", r.interests},
                              {"interest_seconds", r.interest_seconds},
                              {"cold_items", r.cold_items},
                              {"cold_users", r.cold_users},
                              {"pseudonymized", !o_.pseudonymize_key_file.empty()},
                              {"parts", ranks},
                              {"peak_rss_mib", r.peak_rss_mib}};
    print_report(json_, j,
                 fmt::format("wrote {}{}: {} users, {} items, dim {}, {} ({:.1f} MiB) from {} in "
                             "{:.2f} s",
                             r.out, ranks > 0 ? fmt::format(" and {} parts in {}.parts", ranks, r.out) : "",
                             r.users, r.items, r.dim, o_.dtype,
                             static_cast<double>(r.bytes) / (1 << 20), r.checkpoint, r.seconds));
    return 0;
  }

  serve::ExportOptions o_;
  bool json_ = false;
};

// --diversity and --candidates, shared by recommend and evaluate.
void add_mmr_options(CLI::App* sub, serve::RecommendOptions* o) {
  sub->add_option("--diversity", o->diversity,
                  "mmr: weight of diversity against relevance, in [0, 1]");
  sub->add_option("--candidates", o->candidates, "mmr: re-rank this many best-scored items");
}

class RecommendCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand("recommend", "Top-K items for users of a model.h5");
    sub->add_option("--model", model_, "Model file from halorec export")->required();
    auto* user = sub->add_option("--user", user_, "An original user id");
    auto* file = sub->add_option("--users-file", users_file_, "A file with one user id per line");
    user->excludes(file);
    sub->add_option("--k", o_.k, "Items per user");
    sub->add_option("--exclude-seen", dataset_,
                    "The model's dataset.h5: leave out each user's train items");
    sub->add_option("--strategy", o_.strategy,
                    "single: top-K by score; multi: from each interest, merged by interest "
                    "weight (needs export --interests); mmr: diversified re-ranking")
        ->check(CLI::IsMember({"single", "multi", "mmr"}));
    add_mmr_options(sub, &o_);
    sub->add_option("--explain", o_.explain,
                    "Per item, this many of the user's own items most similar to it (needs "
                    "--exclude-seen), and the interest it belongs to");
    sub->add_option("--key", key_file_, "KEY_FILE of a pseudonymized export: --user is the raw id");
    add_allow_readable_key(sub, &allow_readable_key_);
    sub->add_flag("--json", json_, "Print one JSON object on stdout");
    return sub;
  }
  int run() override {
    if (user_.empty() && users_file_.empty()) HR_THROW(UsageError, "give --user or --users-file");
    if (o_.k < 1) HR_THROW(UsageError, "--k must be >= 1, got {}", o_.k);
    std::vector<std::string> users;
    if (!user_.empty()) {
      users.push_back(user_);
    } else {
      data::LineReader reader(users_file_);
      std::string_view line;
      while (reader.next(&line)) {
        if (!line.empty()) users.emplace_back(line);
      }
    }
    const std::string key = key_of(key_file_, allow_readable_key_);
    serve::ModelFile m = serve::read_model_file(model_);
    data::Dataset seen;
    if (!dataset_.empty()) {
      seen = data::read_dataset(dataset_);
      serve::align_to_dataset(m, seen, key);
      o_.seen = &seen;
    }
    const auto recs = serve::recommend(m, users, o_, key);
    if (json_) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& r : recs) {
        nlohmann::json items = nlohmann::json::array();
        for (size_t j = 0; j < r.items.size(); ++j) {
          nlohmann::json it = {{"item", r.items[j].first}, {"score", r.items[j].second}};
          if (j < r.why.size()) {
            nlohmann::json because = nlohmann::json::array();
            for (const auto& [own, sim] : r.why[j].because) {
              because.push_back({{"item", own}, {"similarity", sim}});
            }
            it["because"] = because;
            if (r.why[j].interest >= 0) it["interest"] = r.why[j].interest;
          }
          items.push_back(it);
        }
        arr.push_back({{"user", r.user}, {"items", items}});
      }
      fmt::print(
          "{}\n",
          json_text({{"k", o_.k}, {"strategy", o_.strategy}, {"recommendations", arr}}));
      return 0;
    }
    // Ids are escaped (\t \n \\): every record stays one line of the same fields.
    std::string out = o_.explain > 0 ? "user\trank\titem\tscore\tinterest\tbecause\n"
                                     : "user\trank\titem\tscore\n";
    for (const auto& r : recs) {
      const std::string user = tsv_field(r.user);
      for (size_t j = 0; j < r.items.size(); ++j) {
        out += fmt::format("{}\t{}\t{}\t{:.6g}", user, j + 1, tsv_field(r.items[j].first),
                           r.items[j].second);
        if (j < r.why.size()) {
          std::string because;
          for (const auto& [own, sim] : r.why[j].because) {
            because += fmt::format("{}{}({:.3f})", because.empty() ? "" : ",", tsv_field(own), sim);
          }
          out += fmt::format("\t{}\t{}", r.why[j].interest, because);
        }
        out += "\n";
      }
    }
    fmt::print("{}", out);
    return 0;
  }

 private:
  std::string model_, user_, users_file_, dataset_, key_file_;
  serve::RecommendOptions o_;
  bool allow_readable_key_ = false;
  bool json_ = false;
};

class EvaluateCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand(
        "evaluate", "Recall, NDCG, Precision and HitRate @K of a model.h5 on a dataset's test set");
    sub->add_option("--model", model_, "Model file from halorec export")->required();
    sub->add_option("--dataset", dataset_, "The model's dataset.h5")->required();
    sub->add_option("--k", k_, "Cut-offs (repeatable: --k 10 --k 20)");
    sub->add_option("--strategy", strategy_,
                    "Also score the lists of this strategy (single, multi, mmr): recall, ndcg, "
                    "coverage, intra-list diversity (ild) and novelty at each k")
        ->check(CLI::IsMember({"single", "multi", "mmr"}));
    add_mmr_options(sub, &o_);
    sub->add_option("--key", key_file_,
                    "KEY_FILE of a pseudonymized export (its rows are joined with the dataset "
                    "through the key)");
    add_allow_readable_key(sub, &allow_readable_key_);
    sub->add_flag("--json", json_, "Print one JSON object on stdout");
    return sub;
  }
  int run() override {
    for (int64_t k : k_) {
      if (k < 1 || k > 10000) HR_THROW(UsageError, "--k must be in 1..10000, got {}", k);
    }
    const std::string key = key_of(key_file_, allow_readable_key_);
    comm::MpiRuntime mpi(nullptr, nullptr);
    serve::ModelFile m = serve::read_model_file(model_);
    const data::Dataset d = data::read_dataset(dataset_);
    serve::align_to_dataset(m, d, key);
    std::map<std::string, double> metrics;
    if (strategy_.empty()) {
      metrics = serve::evaluate_model(m, d, k_);
    } else {
      o_.strategy = strategy_;
      for (const auto& [name, value] : serve::evaluate_strategy(m, d, k_, o_)) {
        metrics[strategy_ + "/" + name] = value;
      }
    }
    nlohmann::json j = nlohmann::json::object();
    std::string text;
    for (const auto& [name, value] : metrics) {
      j[name] = value;
      text += fmt::format("{:<24}{:.5f}\n", name, value);
    }
    print_report(json_, j, text.empty() ? text : text.substr(0, text.size() - 1));
    return 0;
  }

 private:
  std::string model_, dataset_, strategy_, key_file_;
  std::vector<int64_t> k_ = {20};
  serve::RecommendOptions o_;
  bool allow_readable_key_ = false;
  bool json_ = false;
};

class InterestsCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand(
        "interests", "Each user's interests: clusters of the vectors of the items they used");
    sub->add_option("--model", model_, "Model file from halorec export")->required();
    sub->add_option("--dataset", dataset_, "The model's dataset.h5 (the users' train items)")
        ->required();
    auto* user = sub->add_option("--user", user_, "One user (original id)");
    auto* all = sub->add_flag("--all", all_, "Every user (tab-separated lines, or --json)");
    user->excludes(all);
    sub->add_option("--max", o_.max_interests, "At most this many interests per user");
    sub->add_option("--threshold", o_.threshold,
                    "Stop merging item groups whose centroids are farther apart than this "
                    "(squared distance of unit vectors, 2 - 2 cos)");
    sub->add_option("--max-items", o_.max_items, "Cluster each user's most recent N items");
    sub->add_option("--representatives", o_.representatives, "Items listed per interest");
    sub->add_option("--key", key_file_, "KEY_FILE of a pseudonymized export: --user is the raw id");
    add_allow_readable_key(sub, &allow_readable_key_);
    sub->add_flag("--json", json_, "Print one JSON object on stdout (with --user: and the vectors)");
    return sub;
  }
  int run() override {
    if (user_.empty() && !all_) HR_THROW(UsageError, "give --user ID or --all");
    serve::check_interest_options(o_);
    const std::string key = key_of(key_file_, allow_readable_key_);
    serve::ModelFile m = serve::read_model_file(model_);
    const data::Dataset d = data::read_dataset(dataset_);
    serve::align_to_dataset(m, d, key);
    serve::check_model_dataset(m, d);
    const auto& tt = d.train;
    if (!user_.empty()) {
      const int64_t u = serve::user_rows_of(m, {user_}, key)[0];
      std::vector<int64_t> rows;
      for (size_t t = 0; t < tt.size(); ++t) {
        if (tt.user[t] == u) rows.push_back(static_cast<int64_t>(t));
      }
      const std::vector<int64_t> items = serve::items_to_cluster(
          std::move(rows), tt.item, tt.has_time ? tt.time : std::vector<int64_t>{}, o_.max_items);
      const auto found = serve::find_interests(items, m.item_vectors, m.dim, o_);
      nlohmann::json arr = nlohmann::json::array();
      std::string text = fmt::format("user {}: {} items, {} interests\n", user_, items.size(),
                                     found.size());
      for (size_t k = 0; k < found.size(); ++k) {
        const auto& it = found[k];
        std::vector<std::string> reps, members;
        for (int64_t r : it.representatives) reps.push_back(m.item_ids[static_cast<size_t>(r)]);
        for (int64_t r : it.members) members.push_back(m.item_ids[static_cast<size_t>(r)]);
        const float* v = m.item_vectors.data() + it.medoid * m.dim;
        arr.push_back({{"interest", k},
                       {"weight", it.weight},
                       {"size", it.size},
                       {"medoid", m.item_ids[static_cast<size_t>(it.medoid)]},
                       {"representatives", reps},
                       {"members", members},
                       {"vector", std::vector<float>(v, v + m.dim)}});
        text += fmt::format("  {}  weight {:.3f}  {} items  medoid {}  e.g. {}\n", k, it.weight,
                            it.size, m.item_ids[static_cast<size_t>(it.medoid)],
                            fmt::join(reps, ", "));
      }
      print_report(json_, {{"user", user_}, {"items", items.size()}, {"interests", arr}},
                   text.substr(0, text.size() - 1));
      return 0;
    }
    Stopwatch watch;
    const serve::InterestTable t = serve::interests_for_all(
        d.num_users(), tt.user, tt.item, tt.has_time ? tt.time : std::vector<int64_t>{},
        m.item_vectors, m.dim, o_);
    const double seconds = watch.seconds();
    std::vector<int64_t> per_user_count(static_cast<size_t>(o_.max_interests) + 1, 0);
    for (int64_t u = 0; u < d.num_users(); ++u) {
      ++per_user_count[static_cast<size_t>(t.user_offsets[static_cast<size_t>(u) + 1] -
                                           t.user_offsets[static_cast<size_t>(u)])];
    }
    if (json_) {
      nlohmann::json users = nlohmann::json::array();
      for (int64_t u = 0; u < d.num_users(); ++u) {
        nlohmann::json arr = nlohmann::json::array();
        for (int64_t j = t.user_offsets[static_cast<size_t>(u)];
             j < t.user_offsets[static_cast<size_t>(u) + 1]; ++j) {
          std::vector<std::string> reps;
          for (int64_t r = 0; r < t.r; ++r) {
            const int64_t item = t.representatives[static_cast<size_t>(j * t.r + r)];
            if (item >= 0) reps.push_back(m.item_ids[static_cast<size_t>(item)]);
          }
          std::vector<std::string> members;
          for (int64_t q = t.member_offsets[static_cast<size_t>(j)];
               q < t.member_offsets[static_cast<size_t>(j) + 1]; ++q) {
            members.push_back(m.item_ids[static_cast<size_t>(t.members[static_cast<size_t>(q)])]);
          }
          arr.push_back(
              {{"weight", t.weight[static_cast<size_t>(j)]},
               {"size", t.size[static_cast<size_t>(j)]},
               {"members", members},
               {"medoid", m.item_ids[static_cast<size_t>(t.medoid[static_cast<size_t>(j)])]},
               {"representatives", reps}});
        }
        users.push_back({{"user", m.user_ids[static_cast<size_t>(u)]}, {"interests", arr}});
      }
      fmt::print("{}\n", json_text({{"users", users},
                                    {"interests", t.num_interests()},
                                    {"seconds", seconds},
                                    {"users_by_interest_count", per_user_count}},
                                   -1));
      return 0;
    }
    std::string out = "user\tinterest\tweight\tsize\tmedoid\trepresentatives\n";
    for (int64_t u = 0; u < d.num_users(); ++u) {
      for (int64_t j = t.user_offsets[static_cast<size_t>(u)];
           j < t.user_offsets[static_cast<size_t>(u) + 1]; ++j) {
        std::string reps;
        for (int64_t r = 0; r < t.r; ++r) {
          const int64_t item = t.representatives[static_cast<size_t>(j * t.r + r)];
          if (item >= 0) {
            reps += (reps.empty() ? "" : ",") + tsv_field(m.item_ids[static_cast<size_t>(item)]);
          }
        }
        out += fmt::format("{}\t{}\t{:.4f}\t{}\t{}\t{}\n",
                           tsv_field(m.user_ids[static_cast<size_t>(u)]),
                           j - t.user_offsets[static_cast<size_t>(u)],
                           t.weight[static_cast<size_t>(j)], t.size[static_cast<size_t>(j)],
                           tsv_field(m.item_ids[static_cast<size_t>(t.medoid[static_cast<size_t>(j)])]),
                           reps);
      }
    }
    fmt::print("{}", out);
    log::info("interests of {} users: {} in all ({:.2f} s)", d.num_users(), t.num_interests(),
              seconds);
    return 0;
  }

 private:
  std::string model_, dataset_, user_, key_file_;
  bool all_ = false;
  bool allow_readable_key_ = false;
  serve::InterestOptions o_;
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_interests_command() { return std::make_unique<InterestsCommand>(); }
std::unique_ptr<Command> make_export_command() { return std::make_unique<ExportCommand>(); }
std::unique_ptr<Command> make_recommend_command() { return std::make_unique<RecommendCommand>(); }
std::unique_ptr<Command> make_evaluate_command() { return std::make_unique<EvaluateCommand>(); }

}  // namespace halorec::cli

// halorec interests: each user's interests, read from model.h5 where the
// export stored them, or computed from a dataset's train items.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/serve_options.h"
#include "core/check.h"
#include "core/log.h"
#include "core/quote.h"
#include "core/resources.h"
#include "data/dataset.h"
#include "serve/interests.h"
#include "serve/model_file.h"
#include "serve/alignment.h"

namespace halorec::cli {

namespace {

class InterestsCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand(
        "interests", "Each user's interests: clusters of the vectors of the items they used");
    sub->add_option("--model", model_, "Model file from halorec export")->required();
    sub->add_option("--dataset", dataset_,
                    "The model's dataset.h5: compute the interests from the users' train items "
                    "(default: read those stored by 'export --interests')");
    auto* user = sub->add_option("--user", user_, "One user (original id)");
    auto* all = sub->add_flag("--all", all_, "Every user (tab-separated lines, or --json)");
    user->excludes(all);
    tuning_ = {
        sub->add_option("--max", o_.max_interests, "At most this many interests per user"),
        sub->add_option("--threshold", threshold_,
                        "Stop merging item groups when merging costs more than this "
                        "(the rise in the groups' sum of squared distances of unit vectors when "
                        "merged); auto: the median 2 - 2 cos of two items of one user")
            ->default_str("auto"),
        sub->add_option("--max-items", o_.max_items, "Cluster each user's most recent N items"),
        sub->add_option("--representatives", o_.representatives, "Items listed per interest")};
    sub->add_option("--key", key_file_, "KEY_FILE of a pseudonymized export: --user is the raw id");
    add_allow_readable_key(sub, &allow_readable_key_);
    add_threads_option(sub, &threads_);
    sub->add_flag("--json", json_, "Print one JSON object on stdout (with --user: and the vectors)");
    return sub;
  }

  int run() override {
    if (user_.empty() && !all_) HR_THROW(UsageError, "give --user ID or --all");
    o_.threshold = serve::parse_threshold(threshold_, "--threshold");
    serve::check_interest_options(o_);
    use_threads(threads_);
    const std::string key = key_of(key_file_, allow_readable_key_);
    serve::ModelFile m = serve::read_model_file(model_);
    const bool stored = dataset_.empty();
    data::Dataset d;
    if (stored) {
      if (m.interests.empty()) {
        HR_THROW(UsageError,
                 "{} has no stored interests (export it with --interests), or give --dataset "
                 "to compute them",
                 model_);
      }
      for (const CLI::Option* opt : tuning_) {
        if (opt->count() > 0) {
          HR_THROW(UsageError,
                   "{} tunes how interests are computed: give --dataset (the stored ones were "
                   "computed by the export with threshold {}, at most {} per user)",
                   opt->get_name(), m.interests.threshold, m.interests.max_interests);
        }
      }
    } else {
      d = data::read_dataset(dataset_);
      serve::align_to_dataset(m, d, key);
      serve::check_model_dataset(m, d);
      serve::resolve_threshold(d.num_users(), d.train.user, d.train.item, m.item_vectors,
                               m.dim, &o_);
    }
    names_ = data::ItemNameIndex(!m.item_names.empty() ? m.item_names : d.item_names);
    if (!user_.empty()) return one_user(m, d, stored, key);
    Stopwatch watch;
    const auto& tt = d.train;
    const serve::InterestTable t =
        stored ? m.interests
               : serve::interests_for_all(d.num_users(), tt.user, tt.item,
                                          tt.has_time ? tt.time : std::vector<int64_t>{},
                                          m.item_vectors, m.dim, o_);
    print_all(m, t, stored, watch.seconds());
    return 0;
  }

 private:
  int one_user(const serve::ModelFile& m, const data::Dataset& d, bool stored,
               const std::string& key) const {
    const int64_t u = serve::user_rows_of(m, {user_}, key)[0];
    std::vector<serve::Interest> found;
    int64_t n_items = 0;
    if (stored) {
      found = serve::interests_of(m.interests, u);
      for (const auto& it : found) n_items += it.size;
    } else {
      const auto& tt = d.train;
      std::vector<int64_t> rows;
      for (size_t t = 0; t < tt.size(); ++t) {
        if (tt.user[t] == u) rows.push_back(static_cast<int64_t>(t));
      }
      const std::vector<int64_t> items = serve::items_to_cluster(
          std::move(rows), tt.item, tt.has_time ? tt.time : std::vector<int64_t>{}, o_.max_items);
      n_items = static_cast<int64_t>(items.size());
      found = serve::find_interests(items, m.item_vectors, m.dim, o_);
    }
    nlohmann::json arr = nlohmann::json::array();
    std::string text = fmt::format("user {}: {} items, {} interests{}\n", user_, n_items,
                                   found.size(), stored ? " (stored in the model)" : "");
    for (size_t k = 0; k < found.size(); ++k) {
      const auto& it = found[k];
      std::vector<std::string> reps, members, shown;
      for (int64_t r : it.representatives) {
        reps.push_back(m.item_ids[static_cast<size_t>(r)]);
        shown.push_back(labelled(reps.back()));
      }
      for (int64_t r : it.members) members.push_back(m.item_ids[static_cast<size_t>(r)]);
      const float* v = m.item_vectors.data() + it.medoid * m.dim;
      const std::string& medoid = m.item_ids[static_cast<size_t>(it.medoid)];
      nlohmann::json j = {{"interest", k},
                          {"weight", it.weight},
                          {"size", it.size},
                          {"medoid", medoid},
                          {"representatives", reps},
                          {"vector", std::vector<float>(v, v + m.dim)}};
      add_names(medoid, reps, &j);
      if (!stored) j["members"] = members;
      arr.push_back(std::move(j));
      text += fmt::format("  {}  weight {:.3f}  {} items  medoid {}  e.g. {}\n", k, it.weight,
                          it.size, labelled(medoid), fmt::join(shown, ", "));
    }
    print_report(json_,
                 {{"user", user_}, {"items", n_items}, {"stored", stored}, {"interests", arr}},
                 text.substr(0, text.size() - 1));
    return 0;
  }

  void print_all(const serve::ModelFile& m, const serve::InterestTable& t, bool stored,
                 double seconds) const {
    const int64_t n_users = static_cast<int64_t>(t.user_offsets.size()) - 1;
    int64_t most = 0;
    for (int64_t u = 0; u < n_users; ++u) {
      most = std::max(most, t.user_offsets[static_cast<size_t>(u) + 1] -
                                t.user_offsets[static_cast<size_t>(u)]);
    }
    std::vector<int64_t> per_user_count(static_cast<size_t>(most) + 1, 0);
    for (int64_t u = 0; u < n_users; ++u) {
      ++per_user_count[static_cast<size_t>(t.user_offsets[static_cast<size_t>(u) + 1] -
                                           t.user_offsets[static_cast<size_t>(u)])];
    }
    if (json_) {
      nlohmann::json users = nlohmann::json::array();
      for (int64_t u = 0; u < n_users; ++u) {
        nlohmann::json arr = nlohmann::json::array();
        for (const serve::Interest& it : serve::interests_of(t, u)) {
          std::vector<std::string> reps, members;
          for (int64_t r : it.representatives) reps.push_back(m.item_ids[static_cast<size_t>(r)]);
          for (int64_t r : it.members) members.push_back(m.item_ids[static_cast<size_t>(r)]);
          const std::string& medoid = m.item_ids[static_cast<size_t>(it.medoid)];
          nlohmann::json j = {{"weight", it.weight},
                              {"size", it.size},
                              {"medoid", medoid},
                              {"representatives", reps}};
          add_names(medoid, reps, &j);
          if (!stored) j["members"] = members;
          arr.push_back(std::move(j));
        }
        users.push_back({{"user", m.user_ids[static_cast<size_t>(u)]}, {"interests", arr}});
      }
      fmt::print("{}\n", json_text({{"users", users},
                                    {"interests", t.num_interests()},
                                    {"stored", stored},
                                    {"seconds", seconds},
                                    {"users_by_interest_count", per_user_count}},
                                   -1));
      return;
    }
    // With item names, the medoid's name after it.
    const bool named = !names_.empty();
    std::string out = fmt::format("user\tinterest\tweight\tsize\tmedoid{}\trepresentatives\n",
                                  named ? "\tmedoid_name" : "");
    for (int64_t u = 0; u < n_users; ++u) {
      const auto found = serve::interests_of(t, u);
      for (size_t j = 0; j < found.size(); ++j) {
        std::string reps;
        for (int64_t item : found[j].representatives) {
          reps += (reps.empty() ? "" : ",") + tsv_field(m.item_ids[static_cast<size_t>(item)]);
        }
        const std::string& medoid = m.item_ids[static_cast<size_t>(found[j].medoid)];
        const std::string* name = names_.find(medoid);
        out += fmt::format("{}\t{}\t{:.4f}\t{}\t{}{}\t{}\n",
                           tsv_field(m.user_ids[static_cast<size_t>(u)]), j, found[j].weight,
                           found[j].size, tsv_field(medoid),
                           named ? "\t" + tsv_field(name ? *name : "-") : "", reps);
      }
    }
    fmt::print("{}", out);
    log::info("interests of {} users: {} in all ({:.2f} s{})", n_users, t.num_interests(), seconds,
              stored ? ", stored in the model" : "");
  }

  // "51 (Duran Duran)", or the id alone without a name.
  std::string labelled(const std::string& item) const {
    const std::string* name = names_.find(item);
    return name ? fmt::format("{} ({})", item, *name) : item;
  }
  // JSON: medoid_name and representative_names (null where unnamed), with names.
  void add_names(const std::string& medoid, const std::vector<std::string>& reps,
                 nlohmann::json* j) const {
    if (names_.empty()) return;
    const std::string* name = names_.find(medoid);
    (*j)["medoid_name"] = name ? nlohmann::json(*name) : nlohmann::json(nullptr);
    nlohmann::json names = nlohmann::json::array();
    for (const std::string& r : reps) {
      const std::string* n = names_.find(r);
      names.push_back(n ? nlohmann::json(*n) : nlohmann::json(nullptr));
    }
    (*j)["representative_names"] = names;
  }

  data::ItemNameIndex names_;
  std::string model_, dataset_, user_, key_file_;
  bool all_ = false;
  bool allow_readable_key_ = false;
  serve::InterestOptions o_;
  std::string threshold_ = "auto";
  std::vector<CLI::Option*> tuning_;
  int64_t threads_ = 0;
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_interests_command() { return std::make_unique<InterestsCommand>(); }

}  // namespace halorec::cli

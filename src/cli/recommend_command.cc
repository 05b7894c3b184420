// halorec recommend: top-K items for users of a model.h5 (no MPI, no trainer).

#include <algorithm>
#include <unordered_set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/serve_options.h"
#include "core/check.h"
#include "core/log.h"
#include "core/quote.h"
#include "core/resources.h"
#include "data/dataset.h"
#include "data/line_reader.h"
#include "serve/ann_index.h"
#include "serve/fold_in.h"
#include "serve/recommend.h"

namespace halorec::cli {

namespace {

class RecommendCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand("recommend", "Top-K items for users of a model.h5");
    sub->add_option("--model", model_, "Model file from halorec export")->required();
    auto* user = sub->add_option("--user", user_, "An original user id");
    auto* file = sub->add_option("--users-file", users_file_, "A file with one user id per line");
    user->excludes(file);
    auto* history = sub->add_option(
        "--history", history_,
        "Fold in a user from these items (comma-separated original ids): with --user, that "
        "user of the model refolded (keeping their layer 0), else a new user (docs/living.md)");
    auto* histories = sub->add_option(
        "--histories", histories_file_,
        "Fold in many: a file of lines 'LABEL ITEM ITEM ...' (a LABEL that is a user of the "
        "model keeps their layer 0)");
    auto* friends = sub->add_option(
        "--friends", friends_,
        "With --history: the new user's friends (comma-separated user ids of the model), "
        "folded in as social edges for a LightGCN trained with data.social (docs/living.md)");
    friends->needs(history);
    history->excludes(histories);
    histories->excludes(user);
    histories->excludes(file);
    history->excludes(file);
    sub->add_option("--k", o_.k, "Items per user");
    auto* dataset = sub->add_option(
        "--dataset", dataset_,
        "The model's dataset.h5: each user's train items are left out (default: the dataset "
        "export recorded in model.h5, when it is still there and unchanged)");
    auto* exclude = sub->add_option("--exclude-seen", exclude_seen_, "The same as --dataset");
    dataset->excludes(exclude);
    sub->add_flag("--include-seen", include_seen_,
                  "Keep each user's train items in their lists (no dataset is read)")
        ->excludes(dataset)
        ->excludes(exclude);
    sub->add_flag("--strict", strict_,
                  "--users-file: stop (exit 2, nothing printed) at a user the model lacks; "
                  "without it such users are reported on stderr (and in JSON) and skipped");
    sub->add_option("--strategy", strategy_,
                    "single: top-K by score; multi: from each interest, merged by interest "
                    "weight (needs export --interests); mmr: diversified re-ranking")
        ->check(CLI::IsMember({"single", "multi", "mmr"}));
    add_strategy_options(sub, &o_);
    sub->add_option("--explain", o_.explain,
                    "Per item, this many of the user's own items most similar to it (needs "
                    "the model's dataset), and the interest it belongs to (its number in "
                    "'halorec interests --user U', '-' when the model stores none)");
    sub->add_option("--key", key_file_, "KEY_FILE of a pseudonymized export: --user is the raw id");
    add_allow_readable_key(sub, &allow_readable_key_);
    sub->add_flag("--index", use_index_,
                  "Retrieve through the model's ANN index (export --index) instead of scoring "
                  "every item; seen items are dropped after retrieval");
    sub->add_option("--index-params", index_params_,
                    "Search settings: ef_search=N (hnsw), nprobe=N (ivfpq)");
    add_threads_option(sub, &threads_);
    sub->add_flag("--json", json_, "Print one JSON object on stdout");
    return sub;
  }
  int run() override {
    if (!history_.empty() || !histories_file_.empty()) return run_fold_in();
    if (user_.empty() && users_file_.empty()) HR_THROW(UsageError, "give --user or --users-file");
    if (o_.k < 1 || o_.k > 100000) HR_THROW(UsageError, "--k must be in 1..100000, got {}", o_.k);
    o_.strategy = serve::parse_strategy(strategy_);
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
    if (include_seen_ && o_.explain > 0) {
      HR_THROW(UsageError, "--explain reads the model's dataset, which leaves out seen items: "
               "drop --include-seen");
    }
    use_threads(threads_);
    const std::string key = key_of(key_file_, allow_readable_key_);
    serve::ModelFile m = serve::read_model_file(model_);
    std::string dataset = dataset_.empty() ? exclude_seen_ : dataset_;
    if (dataset.empty() && !include_seen_) {
      std::string why;
      dataset = serve::model_dataset(m, &why);
      if (dataset.empty()) {
        log::warn("each user's seen (train) items may be recommended: {}; give --dataset "
                  "DATASET to leave them out, or --include-seen to keep them", why);
      }
    }
    data::Dataset seen;
    if (!dataset.empty()) {
      seen = data::read_dataset(dataset);
      serve::align_to_dataset(m, seen, key);
      o_.seen = &seen;
    }
    if (!users_file_.empty()) skip_unknown(m, key, &users);
    if (o_.explain > 0 && m.interests.empty()) {
      log::info("{} stores no interests (export --interests): each item's interest is left "
                "out ('-'); 'halorec interests --model M --dataset D --user U' lists them",
                model_);
    }
    names_ = data::ItemNameIndex(!m.item_names.empty() ? m.item_names : seen.item_names);
    const std::unique_ptr<serve::AnnIndex> index = open_index(m);
    Stopwatch watch;
    const auto recs = serve::recommend(m, users, o_, key);
    return print(recs, watch.seconds(), index.get());
  }

  // --users-file: users the model lacks are reported and left out (--strict:
  // the first stops the batch, as with --user).
  void skip_unknown(const serve::ModelFile& m, const std::string& key,
                    std::vector<std::string>* users) {
    serve::user_rows_of(m, *users, key, &unknown_);
    if (unknown_.empty()) return;
    std::string some;
    for (size_t k = 0; k < std::min<size_t>(unknown_.size(), 5); ++k) {
      some += fmt::format("{}'{}'", k ? ", " : "", quote(unknown_[k]));
    }
    if (unknown_.size() > 5) some += ", ...";
    if (strict_ || unknown_.size() == users->size()) {
      HR_THROW(InputError, "{}: {} of its {} users are not in the model ({}){}", users_file_,
               unknown_.size(), users->size(), some,
               strict_ ? " (--strict)" : ": is it the model's dataset's user list?");
    }
    log::warn("{}: {} of its {} users are not in the model and are skipped ({}); --strict "
              "stops instead", users_file_, unknown_.size(), users->size(), some);
    const std::unordered_set<std::string> drop(unknown_.begin(), unknown_.end());
    users->erase(std::remove_if(users->begin(), users->end(),
                                [&](const std::string& u) { return drop.count(u) > 0; }),
                 users->end());
  }

  // --history / --histories: fold-in, then the usual output (JSON adds each
  // folded vector).
  int run_fold_in() {
    if (o_.k < 1 || o_.k > 100000) HR_THROW(UsageError, "--k must be in 1..100000, got {}", o_.k);
    if (!dataset_.empty() || !exclude_seen_.empty() || o_.explain > 0 ||
        strategy_ != "single" || !key_file_.empty()) {
      HR_THROW(UsageError, "--history/--histories rank by the folded vector alone: no "
               "--exclude-seen (the history is left out), --explain, --strategy or --key");
    }
    std::vector<serve::History> histories;
    auto split = [](std::string_view text, const char* seps) {
      std::vector<std::string> out;
      size_t b = 0;
      while (b < text.size()) {
        const size_t e = std::min(text.find_first_of(seps, b), text.size());
        if (e > b) out.emplace_back(text.substr(b, e - b));
        b = e + 1;
      }
      return out;
    };
    if (!history_.empty()) {
      histories.push_back({user_.empty() ? "history" : user_, split(history_, ","),
                           split(friends_, ",")});
    } else {
      data::LineReader reader(histories_file_);
      std::string_view line;
      while (reader.next(&line)) {
        std::vector<std::string> words = split(line, " \t,");
        if (words.empty()) continue;
        if (words.size() < 2) {
          HR_THROW(InputError, "{}:{}: '{}' has a label and no items", histories_file_,
                   reader.line_number(), std::string(line));
        }
        serve::History h;
        h.label = words[0];
        h.items.assign(words.begin() + 1, words.end());
        histories.push_back(std::move(h));
      }
    }
    use_threads(threads_);
    serve::ModelFile m = serve::read_model_file(model_);
    names_ = data::ItemNameIndex(m.item_names);
    const std::unique_ptr<serve::AnnIndex> index = open_index(m);
    Stopwatch watch;
    std::vector<float> vectors;
    const auto recs = serve::recommend_histories(m, histories, o_, &vectors);
    return print(recs, watch.seconds(), index.get(), &vectors, m.dim);
  }

  // The model's ANN index when --index is given (then o_.index), else null.
  std::unique_ptr<serve::AnnIndex> open_index(const serve::ModelFile& m) {
    if (!use_index_) {
      if (!index_params_.empty()) HR_THROW(UsageError, "--index-params needs --index");
      return nullptr;
    }
    auto index = serve::AnnIndex::open(m, model_);
    serve::IndexOptions io;
    serve::parse_index_params(index_params_, &io);
    index->configure(io);
    o_.index = index.get();
    return index;
  }

  // The lists as JSON (--json; with fold-in vectors, each user's `vector`) or
  // TSV (ids escaped: \t \n \\, so every record stays one line).
  int print(const std::vector<serve::Recommendation>& recs, double seconds,
            const serve::AnnIndex* index, const std::vector<float>* vectors = nullptr,
            int64_t dim = 0) const {
    if (json_) {
      nlohmann::json arr = nlohmann::json::array();
      for (size_t q = 0; q < recs.size(); ++q) {
        const serve::Recommendation& r = recs[q];
        nlohmann::json items = nlohmann::json::array();
        for (size_t j = 0; j < r.items.size(); ++j) {
          nlohmann::json it = {{"item", r.items[j].first}, {"score", r.items[j].second}};
          if (const std::string* name = names_.find(r.items[j].first)) it["name"] = *name;
          if (j < r.why.size()) {
            nlohmann::json because = nlohmann::json::array();
            for (const auto& [own, sim] : r.why[j].because) {
              nlohmann::json b = {{"item", own}, {"similarity", sim}};
              if (const std::string* name = names_.find(own)) b["name"] = *name;
              because.push_back(b);
            }
            it["because"] = because;
            if (r.why[j].interest >= 0) it["interest"] = r.why[j].interest;
          }
          items.push_back(it);
        }
        nlohmann::json one = {{"user", r.user}, {"items", items}};
        if (vectors != nullptr) {
          const float* v = vectors->data() + q * static_cast<size_t>(dim);
          one["vector"] = std::vector<float>(v, v + dim);
        }
        arr.push_back(one);
      }
      nlohmann::json j = {{"k", o_.k},
                          {"strategy", strategy_name(o_.strategy)},
                          {"index", index ? index->kind() : std::string("exact")},
                          {"seconds", seconds},
                          {"recommendations", arr}};
      if (vectors != nullptr) j["fold_in"] = true;
      if (!users_file_.empty()) j["unknown_users"] = unknown_;
      j["seen_excluded"] = o_.seen != nullptr;
      fmt::print("{}\n", json_text(j));
      return 0;
    }
    // With item names (prepare --item-names), a name column after the item.
    const bool named = !names_.empty();
    std::string out = fmt::format("user\trank\titem{}\tscore{}{}\n", named ? "\tname" : "",
                                  o_.explain > 0 ? "\tinterest\tbecause" : "",
                                  o_.explain > 0 && named ? "\tbecause_names" : "");
    for (const auto& r : recs) {
      const std::string user = tsv_field(r.user);
      for (size_t j = 0; j < r.items.size(); ++j) {
        out += fmt::format("{}\t{}\t{}{}\t{:.6g}", user, j + 1, tsv_field(r.items[j].first),
                           named ? "\t" + tsv_field(name_or_dash(r.items[j].first)) : "",
                           r.items[j].second);
        if (j < r.why.size()) {
          std::string because, because_names;
          for (const auto& [own, sim] : r.why[j].because) {
            because += fmt::format("{}{}({:.3f})", because.empty() ? "" : ",", tsv_field(own), sim);
            if (named) {
              because_names += (because_names.empty() ? "" : " | ") + tsv_field(name_or_dash(own));
            }
          }
          // The interest: its number in `halorec interests --user`'s list, or
          // '-' where the model stores no interests.
          out += fmt::format("\t{}\t{}",
                             r.why[j].interest >= 0 ? std::to_string(r.why[j].interest) : "-",
                             because);
          if (named) out += "\t" + because_names;
        }
        out += "\n";
      }
    }
    fmt::print("{}", out);
    return 0;
  }

 private:
  std::string name_or_dash(const std::string& item) const {
    const std::string* name = names_.find(item);
    return name ? *name : "-";
  }

  data::ItemNameIndex names_;  // item names, when the model has them
  std::string history_, histories_file_, friends_;
  std::string model_, user_, users_file_, dataset_, exclude_seen_, key_file_;
  bool include_seen_ = false;
  bool strict_ = false;
  std::vector<std::string> unknown_;  // --users-file ids the model lacks
  std::string strategy_ = "single";
  serve::RecommendOptions o_;
  bool allow_readable_key_ = false;
  bool use_index_ = false;
  std::string index_params_;
  int64_t threads_ = 0;
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_recommend_command() { return std::make_unique<RecommendCommand>(); }

}  // namespace halorec::cli

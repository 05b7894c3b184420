#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/check.h"
#include "core/quote.h"
#include "data/append.h"
#include "data/prepare.h"

namespace halorec::cli {

namespace {

class PrepareCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand(
        "prepare", "Turn interaction logs into a clean, id-mapped dataset.h5");
    sub->add_option("--format", format_, "Input format: lightgcn ('user item item ...'), csv, tsv")
        ->required()
        ->check(CLI::IsMember({"lightgcn", "csv", "tsv"}));
    sub->add_option("--train,--input", train_, "Interaction file (train data when --test is given)")
        ->required();
    sub->add_option("--test", test_, "A given test file in the same format (else --split)");
    sub->add_option("--out", out_, "Output dataset file (written atomically)")->required();
    sub->add_option("--append-to", append_to_,
                    "Grow this dataset.h5 with the new interactions of --input: its ids keep their "
                    "dense ids, new ids are appended, its split rule applies (docs/living.md)");
    sub->add_flag("--header", header_, "Delimited input: the first line names the columns");
    sub->add_option("--sep", sep_, "Delimited input: separator (default ',' for csv, tab for tsv)");
    sub->add_option("--user-col", user_col_, "User id column: header name or 0-based index");
    sub->add_option("--item-col", item_col_, "Item id column: header name or 0-based index");
    sub->add_option("--rating-col", rating_col_, "Rating column (name or index)");
    sub->add_option("--time-col", time_col_,
                    "Time column: seconds since the epoch or ISO 8601 (name or index)");
    sub->add_option("--behavior-col", behavior_col_, "Behavior type column (name or index)");
    sub->add_option("--weight-col", weight_col_,
                    "Weight column (a count, rating, dwell time; name or index): the "
                    "interaction's weight in the graph's normalization (docs/formats.md); "
                    "values <= 0 are dropped as nonpositive_weight");
    sub->add_option("--weight-transform", weight_transform_,
                    "raw: the value is the weight; log1p: log(1 + value), for heavy-tailed "
                    "counts such as plays")
        ->check(CLI::IsMember({"raw", "log1p"}));
    sub->add_option("--min-rating", min_rating_,
                    "Keep records with rating >= this as implicit positives (needs --rating-col)");
    sub->add_option("--behavior-weights", behavior_weights_,
                    "Weights per behavior, e.g. view=1,cart=2,buy=4 (others are dropped)");
    sub->add_option("--kcore", kcore_,
                    "Drop users and items with fewer than K interactions, until stable (0: off)");
    sub->add_option("--split", split_,
                    "random:R (per user), temporal:N (each user's last N by time) or none; "
                    "default random:0.2 without --test");
    sub->add_option("--seed", seed_, "Seed of the random split");
    sub->add_option("--unseen-test", unseen_test_,
                    "Given test records whose user or item is not in the train data: error "
                    "(stop), drop (count and drop), keep (as misses in every recall "
                    "denominator, as published protocols count them)")
        ->check(CLI::IsMember({"error", "drop", "keep"}));
    sub->add_flag("--skip-bad-lines", skip_bad_lines_,
                  "Count and skip malformed lines and unknown test ids instead of stopping "
                  "(refused past --max-skipped)");
    sub->add_option("--max-skipped", max_skipped_,
                    "With --skip-bad-lines: the largest share of a file's records that may be "
                    "malformed; more stops with the count (a wrong --format skips most lines)");
    sub->add_option("--item-names", item_names_,
                    "Item names: a file of item id and name per line (tab-separated unless "
                    "--item-names-sep), kept in dataset.h5 and model.h5 and printed beside ids");
    sub->add_option("--item-names-sep", item_names_sep_,
                    "--item-names: the separator (default tab; as --sep)");
    sub->add_option("--item-names-cols", item_names_cols_,
                    "--item-names: the 0-based columns of the id and the name (default 0,1)");
    sub->add_flag("--item-names-header", item_names_header_,
                  "--item-names: the first line names the columns");
    sub->add_option("--cold-items", cold_items_,
                    "Hold this share of the items (with train records) out of train entirely: "
                    "their records become cold test, ranked apart by evaluate (cold-start; "
                    "content features give their vectors)");
    sub->add_flag("--json", json_, "Print the report as one JSON object on stdout");
    return sub;
  }

  int run() override {
    data::PrepareOptions o;
    o.format = format_ == "lightgcn" ? data::PrepareOptions::Format::kLightgcn
               : format_ == "csv"    ? data::PrepareOptions::Format::kCsv
                                     : data::PrepareOptions::Format::kTsv;
    o.train_path = train_;
    o.test_path = test_;
    o.out = out_;
    o.delimited.header = header_;
    o.delimited.sep = data::parse_separator(sep_.empty() ? (format_ == "tsv" ? "tab" : ",") : sep_);
    o.delimited.user_col = user_col_;
    o.delimited.item_col = item_col_;
    if (!rating_col_.empty()) o.delimited.rating_col = rating_col_;
    if (!time_col_.empty()) o.delimited.time_col = time_col_;
    if (!behavior_col_.empty()) o.delimited.behavior_col = behavior_col_;
    if (!weight_col_.empty()) o.delimited.weight_col = weight_col_;
    o.reader.weight_log1p = weight_transform_ == "log1p";
    if (!weight_transform_.empty() && weight_col_.empty()) {
      HR_THROW(UsageError, "--weight-transform needs --weight-col");
    }
    if (!(max_skipped_ >= 0 && max_skipped_ <= 1)) {
      HR_THROW(UsageError, "--max-skipped must be a share in [0, 1], got {}", max_skipped_);
    }
    o.reader.max_skipped = max_skipped_;
    if (o.format == data::PrepareOptions::Format::kLightgcn && (header_ || !sep_.empty())) {
      HR_THROW(UsageError, "--header and --sep need --format csv or tsv");
    }
    if (!min_rating_.empty()) {
      try {
        o.reader.min_rating = std::stod(min_rating_);
      } catch (const std::exception&) {
        HR_THROW(UsageError, "--min-rating '{}' is not a number", quote(min_rating_));
      }
    }
    if (!behavior_weights_.empty()) {
      o.reader.behavior_weights = data::parse_behavior_weights(behavior_weights_);
    }
    o.reader.skip_bad_lines = skip_bad_lines_;
    o.reader.unseen_test = unseen_test_ == "keep"   ? data::UnseenTest::kKeep
                           : unseen_test_ == "drop" ? data::UnseenTest::kDrop
                                                    : data::UnseenTest::kError;
    o.kcore = kcore_;
    if (!split_.empty()) {
      o.split = data::parse_split(split_);
    } else if (test_.empty()) {
      o.split = data::parse_split("random:0.2");
    }
    o.seed = seed_;
    if (item_names_.empty() && (!item_names_sep_.empty() || !item_names_cols_.empty() ||
                                item_names_header_)) {
      HR_THROW(UsageError, "--item-names-sep, --item-names-cols and --item-names-header need "
               "--item-names");
    }
    o.item_names_path = item_names_;
    if (!item_names_sep_.empty()) o.item_names.sep = data::parse_separator(item_names_sep_);
    o.item_names.header = item_names_header_;
    if (!item_names_cols_.empty()) parse_name_columns(item_names_cols_, &o.item_names);
    o.cold_items = cold_items_;
    if (!append_to_.empty()) {
      if (!item_names_.empty() || cold_items_ != 0) {
        HR_THROW(UsageError, "--item-names and --cold-items with --append-to: the grown dataset "
                 "keeps its parent's names and cold items");
      }
      if (!split_.empty()) {
        HR_THROW(UsageError, "--split with --append-to: the new records follow the parent's "
                 "split; leave --split out");
      }
      o.split = data::SplitSpec{};
      const data::PrepareReport report = data::run_append(o, append_to_);
      print_report(json_, report.to_json(), report.to_text());
      return 0;
    }
    const data::PrepareReport report = data::run_prepare(o);
    print_report(json_, report.to_json(), report.to_text());
    return 0;
  }

 private:
  static void parse_name_columns(const std::string& value, data::ItemNamesFormat* f) {
    int id = -1, name = -1;
    char tail = 0;
    if (std::sscanf(value.c_str(), "%d,%d%c", &id, &name, &tail) != 2 || id < 0 || name < 0 ||
        id == name || id > 1000 || name > 1000) {
      HR_THROW(UsageError, "--item-names-cols '{}': expected two different 0-based columns, "
               "ID,NAME (example: 0,1)", quote(value));
    }
    f->id_col = id;
    f->name_col = name;
  }

  std::string item_names_, item_names_sep_, item_names_cols_;
  bool item_names_header_ = false;
  double cold_items_ = 0;
  std::string format_;
  std::string train_;
  std::string test_;
  std::string out_;
  std::string append_to_;
  bool header_ = false;
  std::string sep_;
  std::string user_col_ = "0";
  std::string item_col_ = "1";
  std::string rating_col_;
  std::string time_col_;
  std::string behavior_col_;
  std::string weight_col_;
  std::string weight_transform_;
  double max_skipped_ = 0.01;
  std::string min_rating_;
  std::string behavior_weights_;
  int64_t kcore_ = 0;
  std::string split_;
  uint64_t seed_ = 2020;
  bool skip_bad_lines_ = false;
  std::string unseen_test_ = "error";
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_prepare_command() { return std::make_unique<PrepareCommand>(); }

}  // namespace halorec::cli

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "data/synth.h"

namespace halorec::cli {

namespace {

class SynthCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand(
        "synth", "Generate synthetic interactions with planted interest communities");
    sub->add_option("--users", o_.users, "Number of users");
    sub->add_option("--items", o_.items, "Number of items");
    sub->add_option("--interactions", o_.interactions,
                    "Number of interactions drawn (repeated pairs are merged by prepare)");
    sub->add_option("--communities", o_.communities, "Number of planted interest communities");
    sub->add_option("--seed", o_.seed, "Seed: the same seed gives the same output");
    sub->add_option("--interests-per-user", o_.interests_per_user,
                    "Communities per user; each in-community interaction picks one (the "
                    "communities file then lists them comma-separated)");
    sub->add_option("--in-community", o_.in_community,
                    "Probability that an interaction stays in the user's community");
    sub->add_option("--item-exponent", o_.item_exponent, "Zipf exponent of item popularity");
    sub->add_option("--user-exponent", o_.user_exponent, "Zipf exponent of user activity");
    sub->add_option("--social-degree", o_.social_degree,
                    "Also write social edges (NAME.social.tsv, for data.social): each user names "
                    "this many friends; 0: none");
    sub->add_option("--homophily", o_.homophily,
                    "With --social-degree: probability that a friend shares the user's "
                    "community (else the friend's community is drawn uniformly)");
    sub->add_option("--split", split_, "Split for .h5 output: random:R, temporal:N or none");
    sub->add_option("--out", o_.out,
                    "Output: a .tsv/.csv log (user, item, time; communities beside it in "
                    "NAME.communities.tsv) or a prepared .h5 dataset")
        ->required();
    sub->add_flag("--force", o_.force,
                  "Replace an existing .tsv/.csv output (an existing dataset .h5 is always "
                  "replaced; nothing else ever is)");
    sub->add_flag("--json", json_, "Print the report as one JSON object on stdout");
    return sub;
  }

  int run() override {
    o_.split = data::parse_split(split_);
    const data::SynthReport r = data::run_synth(o_);
    std::string text = fmt::format(
        "wrote {}: {} interactions over {} users, {} items, {} communities ({:.2f} s, peak RSS "
        "{:.1f} MiB)",
        r.out, r.interactions, r.users, r.items, r.communities, r.seconds,
        static_cast<double>(r.peak_rss_bytes) / (1 << 20));
    if (!r.communities_out.empty()) text += fmt::format("\nplanted communities: {}", r.communities_out);
    if (!r.social_out.empty()) {
      text += fmt::format("\nsocial edges: {} ({} pairs)", r.social_out, r.social_pairs);
    }
    print_report(json_, r.to_json(), text);
    return 0;
  }

 private:
  data::SynthOptions o_;
  std::string split_ = "random:0.2";
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_synth_command() { return std::make_unique<SynthCommand>(); }

}  // namespace halorec::cli

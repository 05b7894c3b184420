// cli/ without running a command: every subcommand registers on one app
// with a description and no clashing names, options parse and refuse as the
// docs say, and JSON output survives ids that are not UTF-8.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <set>
#include <vector>

#include "cli/command.h"

namespace halorec::cli {
namespace {

std::vector<std::unique_ptr<Command>> all_commands() {
  std::vector<std::unique_ptr<Command>> c;
  c.push_back(make_synth_command());
  c.push_back(make_prepare_command());
  c.push_back(make_info_command());
  c.push_back(make_partition_command());
  c.push_back(make_train_command());
  c.push_back(make_baseline_command());
  c.push_back(make_export_command());
  c.push_back(make_index_command());
  c.push_back(make_recommend_command());
  c.push_back(make_evaluate_command());
  c.push_back(make_interests_command());
  return c;
}

struct App {
  CLI::App app{"halorec"};
  std::vector<std::unique_ptr<Command>> commands = all_commands();
  std::vector<CLI::App*> subs;
  App() {
    app.require_subcommand(1);
    for (auto& c : commands) subs.push_back(c->setup(app));
  }
  // Parses argv as main does; the parse error's message, "" when it parsed.
  std::string parse(std::vector<std::string> args) {
    std::reverse(args.begin(), args.end());  // CLI11 takes the vector reversed
    try {
      app.parse(args);
      return "";
    } catch (const CLI::ParseError& e) {
      return e.what();
    }
  }
};

TEST(Cli, EverySubcommandRegistersWithADescription) {
  App a;
  std::set<std::string> names;
  for (CLI::App* sub : a.subs) {
    ASSERT_NE(sub, nullptr);
    EXPECT_FALSE(sub->get_description().empty()) << sub->get_name();
    EXPECT_TRUE(names.insert(sub->get_name()).second) << "twice: " << sub->get_name();
  }
  EXPECT_EQ(names.size(), 11u);
  for (const char* expected : {"train", "export", "recommend", "baseline", "index"}) {
    EXPECT_EQ(names.count(expected), 1u) << expected;
  }
}

TEST(Cli, ExportParsesItsOptionsAndRefusesAnUnknownIndexKind) {
  {
    App a;
    EXPECT_EQ(a.parse({"export", "--checkpoint", "run/checkpoints", "--out", "m.h5", "--index",
                       "hnsw"}),
              "");
  }
  {
    App a;
    const std::string error =
        a.parse({"export", "--checkpoint", "c", "--out", "m.h5", "--index", "lsh"});
    EXPECT_NE(error.find("--index"), std::string::npos) << error;
  }
  {
    App a;
    EXPECT_NE(a.parse({"export", "--out", "m.h5"}).find("--checkpoint"), std::string::npos);
  }
}

TEST(Cli, JsonTextReplacesBytesThatAreNotUtf8) {
  nlohmann::json o;
  o["user"] = std::string("caf\xe9");
  const std::string text = json_text(o, -1);
  EXPECT_EQ(text, "{\"user\":\"caf\xef\xbf\xbd\"}");
}

}  // namespace
}  // namespace halorec::cli

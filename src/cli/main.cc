// halorec: one binary, git-style subcommands. Exit codes: 0 ok, 2 bad usage or
// bad input, 1 internal failure.

#include <new>

#include <fmt/format.h>

#include "cli/command.h"
#include "core/error.h"
#include "core/log.h"
#include "core/version.h"

int main(int argc, char** argv) {
  using namespace halorec;
  CLI::App app{
      "HaloRec trains graph neural network recommenders (LightGCN, NGCF, MF) over user-item\n"
      "interaction graphs partitioned across ranks.",
      "halorec"};
  app.set_version_flag("--version", std::string("halorec ") + kVersion);
  app.option_defaults()->always_capture_default();
  app.require_subcommand(1, 1);
  app.fallthrough(false);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "Log level on stderr: debug, info, warn, error, off")
      ->check(CLI::IsMember({"debug", "info", "warn", "error", "off"}));

  std::vector<std::unique_ptr<cli::Command>> commands;
  commands.push_back(cli::make_synth_command());
  commands.push_back(cli::make_prepare_command());
  commands.push_back(cli::make_info_command());
  commands.push_back(cli::make_partition_command());
  commands.push_back(cli::make_train_command());
  commands.push_back(cli::make_export_command());
  commands.push_back(cli::make_recommend_command());
  commands.push_back(cli::make_evaluate_command());
  commands.push_back(cli::make_interests_command());
  std::vector<std::pair<CLI::App*, cli::Command*>> subs;
  for (auto& c : commands) subs.emplace_back(c->setup(app), c.get());

  if (argc == 1) {
    fmt::print(stderr, "{}", app.help());
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Name unknown options even when another error (a missing required
    // option) was found first.
    for (auto& [sub, command] : subs) {
      if (sub->parsed() && !sub->remaining().empty() && e.get_exit_code() != 0) {
        std::string names;
        for (const auto& r : sub->remaining()) names += " " + r;
        fmt::print(stderr,
                   "halorec {}: error: unknown option(s):{}\nRun with --help for more "
                   "information.\n",
                   sub->get_name(), names);
        return 2;
      }
    }
    if (!app.remaining().empty() && e.get_exit_code() != 0) {
      fmt::print(stderr, "halorec: error: unknown subcommand or option '{}'\n{}",
                 app.remaining().front(), app.help());
      return 2;
    }
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  static const std::pair<const char*, log::Level> levels[] = {
      {"debug", log::Level::kDebug}, {"info", log::Level::kInfo}, {"warn", log::Level::kWarn},
      {"error", log::Level::kError}, {"off", log::Level::kOff}};
  for (const auto& [name, level] : levels) {
    if (log_level == name) log::set_level(level);
  }

  for (auto& [sub, command] : subs) {
    if (!sub->parsed()) continue;
    try {
      return command->run();
    } catch (const std::bad_alloc&) {
      fmt::print(stderr, "halorec {}: error: out of memory\n", sub->get_name());
      return 1;
    } catch (const std::exception& e) {
      fmt::print(stderr, "halorec {}: error: {}\n", sub->get_name(), e.what());
      return exit_code_for(e);
    }
  }
  return 2;
}

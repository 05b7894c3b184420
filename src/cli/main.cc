// halorec: one binary, git-style subcommands. Exit codes (docs/errors.md):
// 0 done, 1 storage/communication/internal failure, 2 the user's error
// (usage, config, input, checkpoint), 3 training diverged, 75 stopped by a
// signal with a checkpoint committed (resumable).

#include <c10/util/Exception.h>

#include <cstdlib>
#include <new>
#include <string>

#include <fmt/format.h>

#include "cli/command.h"
#include "core/error.h"
#include "core/log.h"
#include "core/path_lock.h"
#include "core/quote.h"
#include "core/resources.h"
#include "core/temp_files.h"
#include "core/version.h"

namespace {

// Ends the process: normally, unless a failed write left HDF5 in a state
// its exit handlers crash on (core/error.h).
int finish(int code) {
  if (halorec::unclean_exit()) halorec::exit_now(code);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace halorec;
  // Large tensors freed each step are reused, not page-faulted in again.
  keep_freed_memory();
  // Temporary outputs go when SIGTERM/SIGINT/SIGHUP end the process.
  install_temp_cleanup();
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
  commands.push_back(cli::make_baseline_command());
  commands.push_back(cli::make_tune_command());
  commands.push_back(cli::make_export_command());
  commands.push_back(cli::make_index_command());
  commands.push_back(cli::make_recommend_command());
  commands.push_back(cli::make_evaluate_command());
  commands.push_back(cli::make_interests_command());
  commands.push_back(cli::make_config_command());
  commands.push_back(cli::make_completion_command());
  std::vector<std::pair<CLI::App*, cli::Command*>> subs;
  for (auto& c : commands) subs.emplace_back(c->setup(app), c.get());
  for (auto& [sub, command] : subs) {
    // `halorec train --log-level debug` as well as `halorec --log-level debug train`.
    sub->add_option("--log-level", log_level, "Log level on stderr: debug, info, warn, error, off")
        ->check(CLI::IsMember({"debug", "info", "warn", "error", "off"}));
    // A required option has no default to show (not "--parts INT=1 REQUIRED").
    for (CLI::Option* opt : sub->get_options()) {
      if (opt->get_required()) opt->default_str("");
    }
  }

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
        for (const auto& r : sub->remaining()) names += " " + quote(r);
        fmt::print(stderr,
                   "halorec {}: error: unknown option(s):{}\nRun with --help for more "
                   "information.\n",
                   sub->get_name(), names);
        return 2;
      }
    }
    if (!app.remaining().empty() && e.get_exit_code() != 0) {
      fmt::print(stderr, "halorec: error: unknown subcommand or option '{}'\n{}",
                 quote(app.remaining().front()), app.help());
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
    set_lock_command(sub->get_name());  // named in the lock files it takes
    try {
      // The docs' commands are checked this way where they cannot run
      // (tests/docs): the parse, then what check_args checks.
      const char* check_only = std::getenv("HALOREC_CHECK_ARGS");
      if (check_only != nullptr && std::string(check_only) == "1") {
        command->check_args();
        return 0;
      }
      return finish(command->run());
    } catch (const std::bad_alloc&) {
      // Readers name the file whose sizes they allocate for (h5/file.h); this
      // is memory short elsewhere.
      fmt::print(stderr, "halorec {}: error: out of memory (peak resident {:.0f} MiB); nothing "
                 "was committed\n", sub->get_name(), static_cast<double>(peak_rss_bytes()) / (1 << 20));
      return finish(exit_code::kFailure);
    } catch (const c10::Error& e) {
      // A LibTorch check HaloRec's own validation should have caught first:
      // its message without the C++ stack trace.
      fmt::print(stderr, "halorec {}: internal error: {}\n", sub->get_name(),
                 quote(e.what_without_backtrace(), 2000));
      return finish(exit_code::kFailure);
    } catch (const std::exception& e) {
      fmt::print(stderr, "halorec {}: error: {}\n", sub->get_name(), e.what());
      return finish(exit_code_for(e));
    }
  }
  return 2;
}

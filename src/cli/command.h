#pragma once
// A halorec subcommand: registers its options on the CLI and runs. Each lives
// in its own file; main.cc only lists them.

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json_fwd.hpp>

namespace halorec::cli {

class Command {
 public:
  virtual ~Command() = default;
  // Adds the subcommand and its options to `app`; returns it.
  virtual CLI::App* setup(CLI::App& app) = 0;
  // Runs after a successful parse; returns the exit code. Throws halorec
  // errors for failures (main maps them to exit codes).
  virtual int run() = 0;
  // HALOREC_CHECK_ARGS=1: after the parse, checks what can be checked
  // without running (a configuration and its --set keys) instead of run().
  virtual void check_args() {}
};

std::unique_ptr<Command> make_prepare_command();
std::unique_ptr<Command> make_synth_command();
std::unique_ptr<Command> make_info_command();
std::unique_ptr<Command> make_partition_command();
std::unique_ptr<Command> make_train_command();
std::unique_ptr<Command> make_baseline_command();
std::unique_ptr<Command> make_tune_command();
std::unique_ptr<Command> make_export_command();
std::unique_ptr<Command> make_recommend_command();
std::unique_ptr<Command> make_evaluate_command();
std::unique_ptr<Command> make_interests_command();
std::unique_ptr<Command> make_index_command();
std::unique_ptr<Command> make_config_command();
std::unique_ptr<Command> make_completion_command();

// Prints a report: one JSON object on stdout with --json, else the text.
void print_report(bool json, const nlohmann::json& object, const std::string& text);

// JSON text of `object`; ids that are not valid UTF-8 (a Latin-1 log) come
// out with U+FFFD in place of the bad bytes instead of failing the command.
std::string json_text(const nlohmann::json& object, int indent = 2);

}  // namespace halorec::cli

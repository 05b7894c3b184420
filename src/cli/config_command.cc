// halorec config: every config key with its type, default and meaning, from
// the same table that validates configs (train/config.h) and renders
// docs/config.md.

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/check.h"
#include "train/config.h"

namespace halorec::cli {

namespace {

// `text` wrapped to lines of at most `width` characters, each indented.
std::string wrapped(const std::string& text, size_t indent, size_t width) {
  std::string out, line;
  size_t b = 0;
  while (b < text.size()) {
    size_t e = text.find(' ', b);
    if (e == std::string::npos) e = text.size();
    const std::string word = text.substr(b, e - b);
    if (!line.empty() && indent + line.size() + 1 + word.size() > width) {
      out += std::string(indent, ' ') + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
    b = e + 1;
  }
  if (!line.empty()) out += std::string(indent, ' ') + line + "\n";
  return out;
}

class ConfigCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand(
        "config", "Every config key (train's --config YAML and --set KEY=VALUE): its type, "
                  "default and meaning");
    sub->add_option("prefix", prefix_, "Only keys starting with this, e.g. train. or model.dim");
    sub->add_flag("--json", json_, "One JSON array of {key, type, default, meaning}");
    sub->add_flag("--markdown", markdown_, "docs/config.md's table");
    return sub;
  }

  int run() override {
    if (json_ && markdown_) HR_THROW(UsageError, "--json and --markdown exclude each other");
    if (markdown_) {
      if (!prefix_.empty()) HR_THROW(UsageError, "--markdown prints the whole table: no prefix");
      fmt::print("{}", train::config_table_markdown());
      return 0;
    }
    nlohmann::json arr = nlohmann::json::array();
    std::string text;
    for (const train::ConfigKey& k : train::config_keys()) {
      const std::string name = k.name;
      if (name.rfind(prefix_, 0) != 0) continue;
      arr.push_back({{"key", name}, {"type", k.type}, {"default", k.default_value},
                     {"meaning", k.meaning}});
      const std::string def = k.default_value;
      text += fmt::format("{}  ({}; default {})\n", name, k.type,
                          def.empty() ? "''" : def);
      text += wrapped(k.meaning, 4, 96);
    }
    if (arr.empty()) {
      HR_THROW(UsageError, "no config key starts with '{}' (sections: data., model., train., "
               "eval., checkpoint., output.; `halorec config` lists them all)", prefix_);
    }
    if (json_) {
      fmt::print("{}\n", arr.dump(2));
    } else {
      fmt::print("{}", text);
    }
    return 0;
  }

 private:
  std::string prefix_;
  bool json_ = false;
  bool markdown_ = false;
};

}  // namespace

std::unique_ptr<Command> make_config_command() { return std::make_unique<ConfigCommand>(); }

}  // namespace halorec::cli

#include "cli/command.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace halorec::cli {

void print_report(bool json, const nlohmann::json& object, const std::string& text) {
  if (json) {
    fmt::print("{}\n", object.dump(2));
  } else {
    fmt::print("{}\n", text);
  }
  std::fflush(stdout);
}

}  // namespace halorec::cli

#include "cli/command.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace halorec::cli {

std::string json_text(const nlohmann::json& object, int indent) {
  return object.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

void print_report(bool json, const nlohmann::json& object, const std::string& text) {
  if (json) {
    fmt::print("{}\n", json_text(object));
  } else {
    fmt::print("{}\n", text);
  }
  std::fflush(stdout);
}

}  // namespace halorec::cli

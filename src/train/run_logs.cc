#include "train/run_logs.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "train/run_folders.h"

namespace fs = std::filesystem;

namespace halorec::train {

namespace {

// Rewrites a log keeping the lines `keep` accepts.
void keep_log_lines(const std::string& path, const std::function<bool(const std::string&)>& keep) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return;
  std::ifstream in(path);
  std::string kept, line;
  while (std::getline(in, line)) {
    if (keep(line)) kept += line + "\n";
  }
  write_text_atomically(path, kept);
}

}  // namespace

RunLogs::RunLogs(const std::string& dir, bool active, int64_t resumed_epoch,
                 int64_t resumed_step)
    : dir_(dir), active_(active) {
  if (!active_) return;
  const bool fresh = resumed_step == 0;
  if (!fresh) {
    keep_log_lines(dir + "/metrics.jsonl", [&](const std::string& line) {
      const auto j = nlohmann::json::parse(line, nullptr, false);
      return !j.is_discarded() && !j.contains("final") && j.value("epoch", 0) < resumed_epoch;
    });
    keep_log_lines(dir + "/steps.csv", [&](const std::string& line) {
      return line.rfind("step,", 0) == 0 || std::atoll(line.c_str()) <= resumed_step;
    });
  }
  metrics_.open(dir + "/metrics.jsonl", fresh ? std::ios::trunc : std::ios::app);
  if (!metrics_) HR_THROW(IoError, "cannot write '{}/metrics.jsonl'", dir);
  steps_.open(dir + "/steps.csv", fresh ? std::ios::trunc : std::ios::app);
  if (!steps_) HR_THROW(IoError, "cannot write '{}/steps.csv'", dir);
  if (fresh) steps_ << "step,epoch,loss,ms\n";
}

void RunLogs::step(int64_t global_step, int64_t epoch, double loss, double ms) {
  if (active_) steps_ << fmt::format("{},{},{:.17g},{:.3f}\n", global_step, epoch, loss, ms);
}

void RunLogs::record(const std::string& json) {
  if (active_) metrics_ << json << "\n";
}

void RunLogs::flush() {
  if (!active_) return;
  metrics_.flush();
  steps_.flush();
  if (!metrics_ || !steps_) {
    HR_THROW(IoError, "cannot write the logs in '{}' (metrics.jsonl, steps.csv): disk full?",
             dir_);
  }
}

std::string duration_text(double seconds) {
  const auto s = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

std::string epoch_line(const nlohmann::json& record, const std::map<std::string, double>& metrics,
                       int64_t epochs, double eta_seconds) {
  const int width = static_cast<int>(std::to_string(epochs).size());
  std::string line = fmt::format("epoch {:>{}}/{}  loss {:.5f}  {:.1f} s  step {:.1f} ms",
                                 record["epoch"].get<int64_t>(), width, epochs,
                                 record["loss"].get<double>(),
                                 record["epoch_seconds"].get<double>(),
                                 record["step_ms_median"].get<double>());
  if (record.contains("sampled_nodes")) {
    line += fmt::format("  {:.0f} nodes/rank-step", record["sampled_nodes"].get<double>());
  }
  if (record.contains("eval_seconds")) {
    for (const auto& [name, value] : metrics) line += fmt::format("  {} {:.4f}", name, value);
    line += fmt::format("  (eval {:.1f} s)", record["eval_seconds"].get<double>());
  }
  if (eta_seconds >= 0) line += "  ETA " + duration_text(eta_seconds);
  return line;
}

}  // namespace halorec::train

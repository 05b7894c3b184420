#pragma once
// A run's logs in output.dir, written by rank 0 (docs/formats.md):
// metrics.jsonl (one JSON record per epoch, and a final one) and steps.csv
// (step,epoch,loss,ms per step). On other ranks every call does nothing.

#include <cstdint>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace halorec::train {

class RunLogs {
 public:
  // A fresh run (resumed_step 0) starts both files over. A resumed run keeps
  // what the earlier run logged up to its checkpoint: records of epochs
  // before `resumed_epoch` (no final record) and steps up to `resumed_step`.
  RunLogs(const std::string& dir, bool active, int64_t resumed_epoch, int64_t resumed_step);

  void step(int64_t global_step, int64_t epoch, double loss, double ms);
  // One line of metrics.jsonl.
  void record(const std::string& json);
  // Both files reach the disk (before a checkpoint does: a run killed right
  // after a checkpoint resumes with every step up to it logged). IoError when
  // they cannot be written (disk full): never a silently shorter log.
  void flush();

 private:
  std::string dir_;
  bool active_;
  std::ofstream metrics_, steps_;
};

// The report's line for an epoch's record (the one metrics.jsonl gets), with
// the run's latest metrics when the epoch evaluated.
// "epoch  7/40  loss ...  ETA 3m12s": the epoch of train.epochs, its loss,
// time and metrics, and the run's time left (eta_seconds < 0: none).
std::string epoch_line(const nlohmann::json& record, const std::map<std::string, double>& metrics,
                       int64_t epochs, double eta_seconds);
// 42s, 3m07s, 2h05m.
std::string duration_text(double seconds);

}  // namespace halorec::train

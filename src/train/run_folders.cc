#include "train/run_folders.h"

#include <filesystem>
#include <fstream>

#include "checkpoint/checkpoint.h"
#include "core/check.h"
#include "core/log.h"
#include "core/output_path.h"
#include "core/staged_path.h"
#include "data/dataset.h"
#include "data/social.h"
#include "partition/partition_job.h"
#include "partition/shard_file.h"

namespace fs = std::filesystem;

namespace halorec::train {

namespace {

bool partition_usable(const std::string& dir, const std::string& fingerprint, int parts,
                      const TrainConfig& c, const std::string& social_fingerprint) {
  std::error_code ec;
  if (!fs::exists(dir + "/meta.h5", ec)) return false;
  try {
    const partition::PartitionMeta meta = partition::read_meta(dir, false);
    return meta.dataset_fingerprint == fingerprint && meta.num_parts == parts &&
           meta.validation == c.validation &&
           (c.validation <= 0 || meta.validation_seed == static_cast<uint64_t>(c.validation_seed)) &&
           meta.social_fingerprint == social_fingerprint;
  } catch (const InputError&) {
    return false;
  }
}

}  // namespace

std::string checkpoint_root(const TrainConfig& c) {
  return c.checkpoint_dir.empty() ? c.output_dir + "/checkpoints" : c.checkpoint_dir;
}

std::string best_checkpoint_root(const TrainConfig& c) { return checkpoint_root(c) + "/best"; }

void write_text_atomically(const std::string& path, const std::string& text) {
  StagedPath staged(path);
  {
    std::ofstream f(staged.temp());
    f << text;
    if (!f) HR_THROW(IoError, "cannot write '{}'", path);
  }
  staged.commit();
}

void prepare_run_folders(const TrainConfig& c, const RunOptions& run) {
  const std::string ckpt_root = checkpoint_root(c);
  std::vector<NamedPath> inputs = {{"data.dataset", c.dataset}};
  if (!c.item_features.empty()) inputs.push_back({"data.item_features", c.item_features});
  if (!c.user_features.empty()) inputs.push_back({"data.user_features", c.user_features});
  if (!c.social.empty()) inputs.push_back({"data.social", c.social});
  const std::string ckpt_key = c.checkpoint_dir.empty() ? "output.dir" : "checkpoint.dir";
  check_output_folder({"output.dir", c.output_dir}, "run", inputs, run.force, true);
  check_output_folder({ckpt_key, ckpt_root}, "checkpoints", inputs, run.force, true);
  if (!c.parts.empty()) {
    // A stale partition there is replaced: HaloRec's own, never a user's folder.
    check_output_folder({"data.parts", c.parts}, "partition", inputs, true, true);
  }
  std::vector<std::string> earlier = checkpoint::list_committed(ckpt_root);
  // An earlier run's best checkpoint (checkpoint.keep_best) is part of that run.
  for (const std::string& dir : checkpoint::list_committed(best_checkpoint_root(c))) {
    earlier.push_back(dir);
  }
  if (c.resume.empty() && !earlier.empty()) {
    if (!run.force) {
      HR_THROW(UsageError,
               "{} '{}' holds {} committed checkpoint(s) of an earlier run (newest: {}); "
               "continue that run with --resume latest, or give --force to start over (which "
               "removes those checkpoints and the run's logs, nothing else)",
               ckpt_key, c.checkpoint_dir.empty() ? c.output_dir : c.checkpoint_dir,
               earlier.size(), earlier.front());
    }
    for (const std::string& dir : earlier) {
      std::error_code ec;
      fs::remove_all(dir, ec);
      if (ec) HR_THROW(IoError, "--force: cannot remove '{}': {}", dir, ec.message());
    }
    for (const char* log_file : {"metrics.jsonl", "steps.csv"}) {
      std::error_code ec;
      fs::remove(fs::path(c.output_dir) / log_file, ec);
    }
    log::warn("--force: removed {} checkpoint(s) of an earlier run from {} and its logs",
              earlier.size(), ckpt_root);
  }
  make_marked_folder(c.output_dir, "run", "output.dir");
  make_marked_folder(ckpt_root, "checkpoints", ckpt_key);
  for (const std::string& dir : checkpoint::remove_uncommitted(ckpt_root)) {
    log::warn("removed {}: a checkpoint that was never committed (a job ended while writing it)",
              dir);
  }
}

std::string ensure_partition(const TrainConfig& c, comm::Communicator& comm) {
  const std::string dir = c.parts.empty() ? c.output_dir + "/parts" : c.parts;
  if (comm.rank() == 0) {
    const data::DatasetInfo info = data::read_dataset_info(c.dataset);
    if (!partition_usable(dir, info.fingerprint, comm.size(), c,
                          data::social_fingerprint(c.social))) {
      log::info("partitioning {} into {} parts by {} -> {}", c.dataset, comm.size(),
                c.partition_method, dir);
      partition::PartitionOptions o;
      o.dataset = c.dataset;
      o.parts = comm.size();
      o.method = partition::parse_method(c.partition_method);
      o.seed = c.seed;
      o.validation = c.validation;
      o.validation_seed = static_cast<uint64_t>(c.validation_seed);
      o.social = c.social;
      o.out = dir;
      o.out_option = "data.parts";
      o.force = true;  // HaloRec's own partition only (core/output_path.h)
      fs::create_directories(fs::path(dir).parent_path().empty() ? "." : fs::path(dir).parent_path());
      const partition::PartitionResult r = partition::run_partition(o);
      log::info("partition: halo {} rows, imbalance nodes {:.3f} edges {:.3f}",
                r.stats.halo_volume_total, r.stats.node_imbalance, r.stats.edge_imbalance);
    }
  }
  // The other ranks wait for as long as rank 0 partitions: no timeout here.
  comm::UnlimitedWait unlimited(comm);
  comm.barrier();
  return dir;
}

}  // namespace halorec::train

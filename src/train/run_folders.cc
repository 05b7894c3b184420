#include "train/run_folders.h"

#include <filesystem>
#include <fstream>
#include <optional>
#include <tuple>

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

bool partition_fits(const TrainConfig& c, const std::string& dir, int parts) {
  try {
    const data::DatasetInfo info = data::read_dataset_info(c.dataset);
    return partition_usable(dir, info.fingerprint, parts, c,
                            data::social_graph_id(data::social_fingerprint(c.social),
                                                  c.social_weight));
  } catch (const InputError&) {
    return false;
  }
}

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

namespace {

fs::path canonical_path(const std::string& p) {
  std::error_code ec;
  const fs::path c = fs::weakly_canonical(fs::absolute(p, ec), ec);
  return ec ? fs::absolute(p).lexically_normal() : c;
}

bool within(const fs::path& inner, const fs::path& outer) {
  auto o = outer.begin(), i = inner.begin();
  for (; o != outer.end(); ++o, ++i) {
    if (o->empty()) continue;  // a trailing separator
    if (i == inner.end() || *o != *i) return false;
  }
  return true;
}

// data.parts, the checkpoints folder and output.dir each hold one kind of
// thing: none is another, none lies inside the checkpoints or partition
// folder (the checkpoints and parts folders may lie in output.dir).
void check_roles(const TrainConfig& c, const std::string& ckpt_key, const std::string& ckpt_root) {
  const fs::path out = canonical_path(c.output_dir), ckpt = canonical_path(ckpt_root);
  const std::string parts_path = c.parts.empty() ? c.output_dir + "/parts" : c.parts;
  const fs::path parts = canonical_path(parts_path);
  const struct {
    const char* a;
    std::string a_path;
    const fs::path* a_c;
    const char* b;
    std::string b_path;
    const fs::path* b_c;
  } pairs[] = {{"data.parts", parts_path, &parts, ckpt_key.c_str(), ckpt_root, &ckpt},
               {"data.parts", parts_path, &parts, "output.dir", c.output_dir, &out},
               {ckpt_key.c_str(), ckpt_root, &ckpt, "output.dir", c.output_dir, &out}};
  for (const auto& p : pairs) {
    if (*p.a_c == *p.b_c) {
      HR_THROW(UsageError, "{} '{}' and {} '{}' are the same folder: a run's partition, "
               "checkpoints and logs each need their own; nothing was written", p.a, p.a_path,
               p.b, p.b_path);
    }
  }
  for (const auto& [inner_key, inner_path, inner, outer_key, outer_path, outer] :
       {std::tuple{"output.dir", c.output_dir, &out, ckpt_key.c_str(), ckpt_root, &ckpt},
        std::tuple{"output.dir", c.output_dir, &out, "data.parts", parts_path, &parts},
        std::tuple{ckpt_key.c_str(), ckpt_root, &ckpt, "data.parts", parts_path, &parts},
        std::tuple{"data.parts", parts_path, &parts, ckpt_key.c_str(), ckpt_root, &ckpt}}) {
    if (within(*inner, *outer)) {
      HR_THROW(UsageError, "{} '{}' lies inside {} '{}', which HaloRec manages; choose "
               "folders apart; nothing was written", inner_key, inner_path, outer_key,
               outer_path);
    }
  }
}

// Makes `dir` as a marked folder, remembering it when it is new.
void make_folder(const std::string& dir, const std::string& kind, const std::string& option,
                 std::vector<std::string>* created) {
  std::error_code ec;
  const bool existed = fs::exists(dir, ec);
  make_marked_folder(dir, kind, option);
  if (!existed) created->insert(created->begin(), dir);
}

}  // namespace

RunFolders::~RunFolders() {
  // Setup failed: the locked folders this run made hold nothing of a user's;
  // parents made for them go only when empty (another run may use them).
  for (const std::string& dir : created_) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  locks_.clear();
  for (const std::string& dir : parents_) {
    std::error_code ec;
    fs::remove(dir, ec);
  }
}

RunFolders prepare_run_folders(const TrainConfig& c, const RunOptions& run) {
  RunFolders folders;
  const std::string ckpt_root = checkpoint_root(c);
  const std::string ckpt_key = c.checkpoint_dir.empty() ? "output.dir" : "checkpoint.dir";
  check_roles(c, ckpt_key, ckpt_root);
  // Locks first: what the checks below look at is then this run's alone.
  // (Parents made for them go again when setup fails, like the folders.)
  std::vector<std::string> parents;
  folders.locks_.push_back(lock_output({"output.dir", c.output_dir}, true, &parents));
  if (!within(canonical_path(ckpt_root), canonical_path(c.output_dir))) {
    folders.locks_.push_back(lock_output({ckpt_key, ckpt_root}, true, &parents));
  }
  std::vector<NamedPath> inputs = {{"data.dataset", c.dataset}};
  if (!c.item_features.empty()) inputs.push_back({"data.item_features", c.item_features});
  if (!c.user_features.empty()) inputs.push_back({"data.user_features", c.user_features});
  if (!c.social.empty()) inputs.push_back({"data.social", c.social});
  check_output_folder({"output.dir", c.output_dir}, "run", inputs, run.force, true);
  check_output_folder({ckpt_key, ckpt_root}, "checkpoints", inputs, run.force, true);
  if (!c.parts.empty()) {
    // A stale partition there is replaced: HaloRec's own, never a user's folder.
    check_output_folder({"data.parts", c.parts}, "partition", inputs, true, true);
  }
  // Private folders of staged outputs whose writer was killed (SIGKILL: no
  // handler ran); this run holds the lock, so no writer is live.
  for (const std::string& dir : {c.output_dir, ckpt_root}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (is_private_folder_name(e.path().filename().string()) &&
          fs::is_directory(fs::symlink_status(e.path(), ec))) {
        std::error_code rm;
        fs::remove_all(e.path(), rm);
      }
    }
  }
  // Leftovers of a crashed commit first (an old step-N moved aside comes back).
  const std::vector<std::string> uncommitted = checkpoint::remove_uncommitted(ckpt_root);
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
    // --force never removes what this run reads (checked before removing any).
    if (!c.init_from.empty()) inputs.push_back({"train.init_from", c.init_from});
    for (const std::string& dir : earlier) {
      const fs::path gone = canonical_path(dir);
      for (const NamedPath& in : inputs) {
        const fs::path used = canonical_path(in.path);
        if (within(used, gone) || within(gone, used)) {
          HR_THROW(UsageError,
                   "--force would remove '{}', which {} '{}' reads; nothing was removed: "
                   "give --init-from a checkpoint outside {}, or copy it there first",
                   dir, in.option, in.path, ckpt_root);
        }
      }
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
  make_folder(c.output_dir, "run", "output.dir", &folders.created_);
  make_folder(ckpt_root, "checkpoints", ckpt_key, &folders.created_);
  folders.parents_ = std::move(parents);
  for (const std::string& dir : uncommitted) {
    log::warn("removed {}: a checkpoint that was never committed (a job ended while writing it)",
              dir);
  }
  return folders;
}

std::string ensure_partition(const TrainConfig& c, comm::Communicator& comm) {
  const std::string dir = c.parts.empty() ? c.output_dir + "/parts" : c.parts;
  if (comm.rank() == 0) {
    std::error_code ec;
    if (!std::filesystem::exists(c.dataset, ec)) {
      HR_THROW(InputError, "data.dataset '{}' does not exist (relative to {}): make it with "
               "`halorec prepare` (or `launch/quickstart.sh` for configs/quickstart.yaml's), or "
               "name yours with --set data.dataset=PATH", c.dataset,
               std::filesystem::current_path(ec).string());
    }
    const data::DatasetInfo info = data::read_dataset_info(c.dataset);
    const std::string social =
        data::social_graph_id(data::social_fingerprint(c.social), c.social_weight);
    std::optional<PathLock> lock;
    if (!partition_usable(dir, info.fingerprint, comm.size(), c, social)) {
      // Checked again under the lock: another run may have just made it.
      lock.emplace(lock_output({"data.parts", dir}, true));
    }
    if (lock && !partition_usable(dir, info.fingerprint, comm.size(), c, social)) {
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
      o.social_weight = c.social_weight;
      o.out = dir;
      o.out_option = "data.parts";
      o.force = true;  // HaloRec's own partition only (core/output_path.h)
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

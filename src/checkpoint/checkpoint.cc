#include "checkpoint/checkpoint.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/env.h"
#include "core/log.h"
#include "core/quote.h"
#include "comm/shared_name.h"
#include "core/staged_path.h"
#include "core/temp_files.h"
#include "core/version.h"
#include "h5/file.h"

namespace fs = std::filesystem;

namespace halorec::checkpoint {

namespace {

std::string step_name(int64_t step) { return fmt::format("step-{:010d}", step); }
std::string rank_file(int r) { return fmt::format("rank-{:05d}.h5", r); }

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void write_identity(hid_t f, const char* format, const Identity& id, int world, int rank,
                    int64_t step) {
  h5::set_attr(f, "format", format);
  h5::set_attr(f, "format_version", kFormatVersion);
  h5::set_attr(f, "created_by", std::string("halorec ") + kVersion);
  h5::set_attr(f, "world_size", static_cast<int64_t>(world));
  h5::set_attr(f, "rank", static_cast<int64_t>(rank));
  h5::set_attr(f, "step", step);
  h5::set_attr(f, "dataset_fingerprint", id.dataset_fingerprint);
  h5::set_attr(f, "model_type", id.model_type);
  h5::set_attr(f, "dim", id.dim);
  h5::set_attr(f, "layers", id.layers);
  if (!id.social_fingerprint.empty()) h5::set_attr(f, "social_fingerprint", id.social_fingerprint);
}

void check_file(hid_t f, const std::string& path, const char* format) {
  h5::check_file_kind(f, path, {format, kFormatVersion, "checkpoint file",
                                "'halorec train' writes them"});
}

Identity identity_of(hid_t f, const std::string& path) {
  Identity id;
  id.dataset_fingerprint = h5::get_attr_string(f, "dataset_fingerprint");
  id.model_type = h5::get_attr_string(f, "model_type");
  id.dim = h5::get_attr_int(f, "dim");
  id.layers = h5::get_attr_int(f, "layers");
  if (h5::has_attr(f, "social_fingerprint")) {
    id.social_fingerprint = h5::get_attr_string(f, "social_fingerprint");
    if (id.social_fingerprint.size() != 64) {
      HR_THROW(InputError, "'{}': social_fingerprint '{}' is not a SHA-256", path,
               quote(id.social_fingerprint, 70));
    }
  }
  // The ranges train.config accepts.
  if (id.dim < 1 || id.dim > 4096 || id.layers < 0 || id.layers > 16 ||
      (id.model_type != "mf" && id.model_type != "lightgcn" && id.model_type != "ngcf")) {
    HR_THROW(InputError, "'{}': model '{}' with dim {} and {} layers is not one HaloRec trains",
             path, quote(id.model_type, 40), id.dim, id.layers);
  }
  return id;
}

void check_identity(const Identity& got, const Identity& want, const std::string& path) {
  if (got.dataset_fingerprint != want.dataset_fingerprint) {
    HR_THROW(InputError,
             "checkpoint '{}' was trained on another dataset (fingerprint {}..., this one {}...)",
             path, got.dataset_fingerprint.substr(0, 12), want.dataset_fingerprint.substr(0, 12));
  }
  if (got.model_type != want.model_type || got.dim != want.dim || got.layers != want.layers) {
    HR_THROW(InputError,
             "checkpoint '{}' holds a {} model (dim {}, {} layers), the config asks for {} (dim "
             "{}, {} layers)",
             path, got.model_type, got.dim, got.layers, want.model_type, want.dim, want.layers);
  }
  if (got.social_fingerprint != want.social_fingerprint) {
    auto describe = [](const std::string& f) {
      return f.empty() ? std::string("no social edges") : "social edges " + f.substr(0, 12) + "...";
    };
    HR_THROW(InputError,
             "checkpoint '{}' was trained on a graph with {}, this run's has {} (data.social)",
             path, describe(got.social_fingerprint), describe(want.social_fingerprint));
  }
}

void write_rows(hid_t f, const char* name, const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kCPU).to(at::kFloat).contiguous();
  h5::write_matrix(f, name, c.data_ptr<float>(), c.size(0), c.size(1));
}

// Of the expected shape, checked before anything is read.
at::Tensor read_rows(hid_t f, const char* name, int64_t expected_rows, int64_t expected_cols) {
  int64_t rows = 0, cols = 0;
  std::vector<float> v = h5::read_matrix(f, name, &rows, &cols, expected_rows, expected_cols);
  return at::from_blob(v.data(), {rows, cols}, at::kFloat).clone();
}

void write_flat(hid_t g, const std::string& name, const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kCPU).to(at::kFloat).contiguous().reshape({-1});
  h5::write_array(g, name, c.data_ptr<float>(), static_cast<size_t>(c.numel()));
  std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
  h5::write_array(g, name + "_shape", shape);
}

// A replicated parameter: its values are finite and fill its stored shape.
at::Tensor read_flat(hid_t g, const std::string& name) {
  std::vector<float> v = h5::read_array<float>(g, name);
  const std::vector<int64_t> shape = h5::read_array<int64_t>(g, name + "_shape");
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0 || d > (int64_t{1} << 40)) numel = -1;
    if (numel >= 0) numel *= d;
  }
  if (shape.empty() || numel != static_cast<int64_t>(v.size())) {
    HR_THROW(InputError, "{}: {} values do not fill its stored shape ({} dimensions)",
             h5::describe(g, name), v.size(), shape.size());
  }
  const at::Tensor t =
      at::from_blob(v.data(), {static_cast<int64_t>(v.size())}, at::kFloat).clone().reshape(shape);
  if (!at::isfinite(t).all().item<bool>()) {
    HR_THROW(InputError, "{}: holds NaN or infinite values", h5::describe(g, name));
  }
  return t;
}

bool committed(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / kMarker, ec);
}

// The commit order of a checkpoint (its marker's "sequence"; 0 for markers
// from before sequences).
int64_t sequence_of(const fs::path& dir) {
  std::ifstream in(dir / kMarker);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > 4096) return 0;
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("sequence") || !j["sequence"].is_number_integer()) return 0;
  return std::max<int64_t>(0, j["sequence"].get<int64_t>());
}

// Committed step-N folders of `root`, newest commit first (by sequence, then
// by step for markers without one).
std::vector<fs::path> committed_in(const std::string& root) {
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return {};
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory(ec) && name.rfind("step-", 0) == 0 && committed(e.path())) {
      found.emplace_back(sequence_of(e.path()), e.path());
    }
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first > b.first;
    return a.second.filename().string() > b.second.filename().string();
  });
  std::vector<fs::path> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

void write_text_file(const fs::path& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) HR_THROW(IoError, "cannot create '{}': {}", path.string(), std::strerror(errno));
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) HR_THROW(IoError, "cannot write '{}' (disk full?): {}", path.string(), std::strerror(err));
}

// A committed checkpoint leaves in two steps: renamed out of sight (atomic),
// then removed; a crash in between leaves a hidden folder, never a
// half-removed one that still looks committed.
void retire(const fs::path& dir, const std::string& token) {
  std::error_code ec;
  const fs::path gone = dir.parent_path() / ("." + dir.filename().string() + ".removed-" + token);
  fs::rename(dir, gone, ec);
  fs::remove_all(ec ? dir : gone, ec);
}

}  // namespace

std::string write_checkpoint(const std::string& root, const Content& c, const Identity& id,
                             comm::Communicator& comm, int64_t keep) {
  const int64_t step = c.state.global_step;
  const fs::path dir = fs::path(root) / step_name(step);
  // Every rank writes into a new folder of an unpredictable name that no
  // reader lists; it becomes step-N in one rename (or an exchange with an
  // earlier step-N, which stays whole until then).
  const std::string token = comm::shared_random_hex(comm);
  const fs::path staging = fs::path(root) / ("." + step_name(step) + ".tmp-" + token);
  std::optional<TempPath> uncommitted;
  if (comm.rank() == 0) {
    std::error_code ec;
    fs::create_directories(root, ec);
    if (::mkdir(staging.c_str(), 0777) != 0) {
      HR_THROW(IoError, "cannot create checkpoint folder '{}': {}", staging.string(),
               std::strerror(errno));
    }
    uncommitted.emplace(staging.string());
  }
  comm.barrier();
  // Files are created exclusively (never through a planted link) and fsync'd.
  {
    const std::string path = (staging / rank_file(comm.rank())).string();
    h5::Handle file = h5::create_file(path);
    const hid_t f = file.get();
    write_identity(f, kShardFormat, id, comm.size(), comm.rank(), step);
    h5::write_array(f, "global_id", c.owned);
    write_rows(f, "embedding", c.e0);
    write_rows(f, "adam_m", c.m);
    write_rows(f, "adam_v", c.v);
    h5::set_attr(f, "adam_step", c.adam_step);
    h5::close_file(file, path);
    fsync_path(path);
  }
  if (comm.rank() == 0) {
    const std::string path = (staging / "dense.h5").string();
    {
      h5::Handle file = h5::create_file(path);
      const hid_t f = file.get();
      write_identity(f, kDenseFormat, id, comm.size(), 0, step);
      const TrainState& s = c.state;
      h5::set_attr(f, "epoch", s.epoch);
      h5::set_attr(f, "step_in_epoch", s.step_in_epoch);
      h5::set_attr(f, "global_step", s.global_step);
      h5::set_attr(f, "loss_sum", s.loss_sum);
      h5::set_attr(f, "steps_run", s.steps_run);
      h5::set_attr(f, "best", s.best);
      h5::set_attr(f, "since_best", s.since_best);
      h5::set_attr(f, "lr_scale", s.lr_scale);
      h5::set_attr(f, "last_metrics", s.last_metrics_json);
      h5::set_attr(f, "config", c.config_yaml);
      h5::set_attr(f, "num_dense", static_cast<int64_t>(c.dense.size()));
      for (size_t k = 0; k < c.dense.size(); ++k) {
        write_flat(f, fmt::format("param_{}", k), c.dense[k]);
        write_flat(f, fmt::format("adam_m_{}", k), c.dense_m[k]);
        write_flat(f, fmt::format("adam_v_{}", k), c.dense_v[k]);
      }
      h5::close_file(file, path);
    }
    fsync_path(path);
  }
  if (const int64_t crash = positive_env("HALOREC_TEST_CRASH_IN_CHECKPOINT");
      crash > 0 && crash == step && comm.rank() == comm.size() - 1) {
    log::error("HALOREC_TEST_CRASH_IN_CHECKPOINT: exiting before the commit marker");
    std::_Exit(99);
  }
  comm.barrier();  // every shard is on disk
  if (comm.rank() == 0) {
    // The marker, then the rename: the commit.
    const std::vector<fs::path> before = committed_in(root);
    const int64_t sequence = before.empty() ? 1 : sequence_of(before.front()) + 1;
    write_text_file(staging / kMarker,
                    fmt::format("{{\"step\": {}, \"world_size\": {}, \"format_version\": {}, "
                                "\"sequence\": {}}}\n",
                                step, comm.size(), kFormatVersion, sequence));
    fsync_path(staging.string());
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(dir, ec))) {
      fs::rename(staging, dir, ec);
      if (ec) HR_THROW(IoError, "cannot commit checkpoint '{}': {}", dir.string(), ec.message());
    } else if (exchange_paths(staging.string(), dir.string())) {
      fs::remove_all(staging, ec);  // now the replaced step-N
    } else {
      // No RENAME_EXCHANGE (some network filesystems): the old step-N moves
      // out of sight first; prepare_run_folders restores it after a crash here.
      const fs::path aside = fs::path(root) / ("." + step_name(step) + ".old-" + token);
      fs::rename(dir, aside, ec);
      if (ec) HR_THROW(IoError, "cannot move '{}' aside: {}", dir.string(), ec.message());
      fs::rename(staging, dir, ec);
      if (ec) {
        std::error_code back;
        fs::rename(aside, dir, back);
        HR_THROW(IoError, "cannot commit checkpoint '{}': {}", dir.string(), ec.message());
      }
      fs::remove_all(aside, ec);
    }
    uncommitted->release();
    fsync_path(root);
    // Retention: the newest `keep` commits stay (the one just made always);
    // folders without a marker (older HaloRec versions) below this step go.
    const std::vector<fs::path> done = committed_in(root);
    const size_t kept = static_cast<size_t>(std::max<int64_t>(keep, 1));
    for (size_t k = kept; k < done.size(); ++k) {
      if (done[k] != dir) retire(done[k], token);
    }
    for (const auto& e : fs::directory_iterator(root, ec)) {
      const std::string name = e.path().filename().string();
      if (e.is_directory(ec) && name.rfind("step-", 0) == 0 && !committed(e.path()) &&
          e.path().filename() < dir.filename()) {
        std::error_code rm;
        fs::remove_all(e.path(), rm);
      }
    }
  }
  comm.barrier();
  return dir.string();
}

std::vector<std::string> list_committed(const std::string& path) {
  if (committed(path)) return {path};
  std::vector<std::string> found;
  for (const fs::path& p : committed_in(path)) found.push_back(p.string());
  return found;
}

std::string find_latest(const std::string& path) {
  const std::vector<std::string> all = list_committed(path);
  return all.empty() ? "" : all.front();
}

std::vector<std::string> remove_uncommitted(const std::string& root) {
  std::vector<std::string> removed;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return removed;
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(root, ec)) entries.push_back(e.path());
  // A commit that moved step-N aside and crashed before its replacement
  // arrived: the old one comes back.
  for (const fs::path& p : entries) {
    const std::string name = p.filename().string();
    const size_t old = name.find(".old-");
    if (name.rfind(".step-", 0) != 0 || old == std::string::npos) continue;
    const fs::path back = p.parent_path() / name.substr(1, old - 1);
    std::error_code rn;
    if (!fs::exists(fs::symlink_status(back, rn)) && committed(p)) fs::rename(p, back, rn);
  }
  for (const fs::path& p : entries) {
    const std::string name = p.filename().string();
    std::error_code st;
    const bool stale_step = name.rfind("step-", 0) == 0 && fs::is_directory(p, st) && !committed(p);
    const bool stale_hidden = name.rfind(".step-", 0) == 0 && fs::exists(fs::symlink_status(p, st));
    if (!stale_step && !stale_hidden) continue;
    std::error_code rm;
    fs::remove_all(p, rm);
    // A checkpoint being written when its job ended (.step-N.tmp-...), or
    // one from before staging folders; not the leftovers of a retirement.
    if (!rm && (stale_step || name.find(".tmp-") != std::string::npos)) {
      removed.push_back(p.string());
    }
  }
  return removed;
}

Identity read_identity(const std::string& dir, std::string* config_yaml) {
  const std::string path = dir + "/dense.h5";
  h5::Handle file = h5::open_file(path, "checkpoint");
  check_file(file.get(), path, kDenseFormat);
  if (config_yaml != nullptr) *config_yaml = h5::get_attr_string(file.get(), "config");
  return identity_of(file.get(), path);
}

Content load_checkpoint(const std::string& dir, const std::vector<int64_t>& owned,
                        const Identity& expected) {
  if (!committed(dir)) {
    HR_THROW(CheckpointError, "'{}' is not a committed checkpoint (no {} marker)", dir, kMarker);
  }
  Content c;
  const std::string dense_path = dir + "/dense.h5";
  int64_t world = 0, step = 0;
  {
    h5::Handle file = h5::open_file(dense_path, "checkpoint");
    const hid_t f = file.get();
    check_file(f, dense_path, kDenseFormat);
    check_identity(identity_of(f, dense_path), expected, dir);
    world = h5::get_attr_int(f, "world_size");
    step = h5::get_attr_int(f, "step");
    TrainState& s = c.state;
    s.epoch = h5::get_attr_int(f, "epoch");
    s.step_in_epoch = h5::get_attr_int(f, "step_in_epoch");
    s.global_step = h5::get_attr_int(f, "global_step");
    s.loss_sum = h5::get_attr_double(f, "loss_sum");
    s.steps_run = h5::get_attr_int(f, "steps_run");
    s.best = h5::get_attr_double(f, "best");
    s.since_best = h5::get_attr_int(f, "since_best");
    // Checkpoints from before reduce-on-plateau have no factor: 1.
    s.lr_scale = h5::has_attr(f, "lr_scale") ? h5::get_attr_double(f, "lr_scale") : 1.0;
    s.last_metrics_json = h5::get_attr_string(f, "last_metrics");
    c.config_yaml = h5::get_attr_string(f, "config");
    const nlohmann::json metrics = nlohmann::json::parse(s.last_metrics_json, nullptr, false);
    bool metrics_ok = metrics.is_object();
    for (const auto& kv : metrics.items()) metrics_ok = metrics_ok && kv.value().is_number();
    if (s.epoch < 1 || s.step_in_epoch < 0 || s.global_step < 0 || s.steps_run < 0 ||
        s.steps_run > s.step_in_epoch || s.since_best < 0 || !std::isfinite(s.loss_sum) ||
        !std::isfinite(s.best) || !(s.lr_scale > 0 && s.lr_scale <= 1) || !metrics_ok) {
      HR_THROW(InputError, "'{}': the training position is inconsistent (epoch {}, step {} of "
               "the epoch, global step {}, last_metrics {})", dense_path, s.epoch,
               s.step_in_epoch, s.global_step, quote(s.last_metrics_json, 80));
    }
    // step-N/ holds step N: a folder renamed by hand, or a file edited, is refused.
    std::string trimmed_dir = dir;
    while (trimmed_dir.size() > 1 && trimmed_dir.back() == '/') trimmed_dir.pop_back();
    const std::string folder = fs::path(trimmed_dir).filename().string();
    if (folder.size() == 15 && folder.rfind("step-", 0) == 0) {  // step-NNNNNNNNNN
      char* end = nullptr;
      const long long named = std::strtoll(folder.c_str() + 5, &end, 10);
      if (*end == '\0' && (named != s.global_step || named != step)) {
        HR_THROW(InputError, "'{}': global step {} (attribute step {}), but the folder is "
                 "named for step {} (renamed or edited?)", dense_path, s.global_step, step, named);
      }
    }
    const int64_t n = h5::get_attr_int(f, "num_dense");
    if (n < 0 || n > 1024) {
      HR_THROW(InputError, "'{}': num_dense {} is not a parameter count", dense_path, n);
    }
    if (world < 1 || world > (1 << 24)) {
      HR_THROW(InputError, "'{}': world_size {} is not a rank count", dense_path, world);
    }
    for (int64_t k = 0; k < n; ++k) {
      c.dense.push_back(read_flat(f, fmt::format("param_{}", k)));
      c.dense_m.push_back(read_flat(f, fmt::format("adam_m_{}", k)));
      c.dense_v.push_back(read_flat(f, fmt::format("adam_v_{}", k)));
    }
  }
  // Rows by global id from every writer's file.
  const int64_t n = static_cast<int64_t>(owned.size());
  c.owned = owned;
  c.e0 = at::zeros({n, expected.dim});
  c.m = at::zeros({n, expected.dim});
  c.v = at::zeros({n, expected.dim});
  std::vector<bool> found(static_cast<size_t>(n), false);
  for (int64_t r = 0; r < world; ++r) {
    const std::string path = dir + "/" + rank_file(static_cast<int>(r));
    h5::Handle file = h5::open_file(path, "checkpoint shard");
    const hid_t f = file.get();
    check_file(f, path, kShardFormat);
    if (h5::get_attr_int(f, "rank") != r || h5::get_attr_int(f, "world_size") != world ||
        h5::get_attr_int(f, "step") != step) {
      HR_THROW(InputError, "'{}' is not rank {} of {} at step {}", path, r, world, step);
    }
    check_identity(identity_of(f, path), expected, dir);
    const std::vector<int64_t> ids = h5::read_array<int64_t>(f, "global_id");
    for (size_t k = 1; k < ids.size(); ++k) {
      if (ids[k] <= ids[k - 1]) {
        HR_THROW(InputError, "'{}': global_id is not ascending at entry {} (corrupt file?)", path,
                 k);
      }
    }
    std::vector<int64_t> src, dst;
    for (size_t k = 0; k < ids.size(); ++k) {
      const auto it = std::lower_bound(owned.begin(), owned.end(), ids[k]);
      if (it != owned.end() && *it == ids[k]) {
        src.push_back(static_cast<int64_t>(k));
        dst.push_back(it - owned.begin());
        found[static_cast<size_t>(dst.back())] = true;
      }
    }
    if (src.empty()) continue;
    const at::Tensor s = at::tensor(src, at::kLong), d = at::tensor(dst, at::kLong);
    // Every stored matrix: one finite row per global id.
    auto rows_of = [&](const char* name) {
      const at::Tensor t = read_rows(f, name, static_cast<int64_t>(ids.size()), expected.dim);
      if (t.size(0) != static_cast<int64_t>(ids.size()) || t.size(1) != expected.dim) {
        HR_THROW(InputError, "'{}': {} is {}x{}, expected {}x{}", path, name, t.size(0),
                 t.size(1), ids.size(), expected.dim);
      }
      const at::Tensor picked = t.index_select(0, s);
      if (!at::isfinite(picked).all().item<bool>()) {
        HR_THROW(InputError, "'{}': {} holds NaN or infinite values", path, name);
      }
      return picked;
    };
    c.e0.index_copy_(0, d, rows_of("embedding"));
    c.m.index_copy_(0, d, rows_of("adam_m"));
    c.v.index_copy_(0, d, rows_of("adam_v"));
    c.adam_step = h5::get_attr_int(f, "adam_step");
    if (c.adam_step < 0) HR_THROW(InputError, "'{}': adam_step {} is negative", path, c.adam_step);
  }
  const auto missing = std::find(found.begin(), found.end(), false);
  if (missing != found.end()) {
    HR_THROW(CheckpointError, "checkpoint '{}' has no row for node {}", dir,
             owned[static_cast<size_t>(missing - found.begin())]);
  }
  return c;
}

}  // namespace halorec::checkpoint

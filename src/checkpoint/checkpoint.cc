#include "checkpoint/checkpoint.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/env.h"
#include "core/log.h"
#include "core/quote.h"
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
  if (!h5::has_attr(f, "format") || h5::get_attr_string(f, "format") != format) {
    HR_THROW(InputError, "'{}' is not a HaloRec checkpoint file ({})", path, format);
  }
  const int64_t v = h5::get_attr_int(f, "format_version");
  if (v != kFormatVersion) {
    HR_THROW(InputError, "'{}' has checkpoint format_version {}, this HaloRec reads {}", path, v,
             kFormatVersion);
  }
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

at::Tensor read_rows(hid_t f, const char* name) {
  int64_t rows = 0, cols = 0;
  std::vector<float> v = h5::read_matrix(f, name, &rows, &cols);
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

// fsyncs the temporary, then renames it over `path`.
void commit_file(TempPath& temp, const std::string& path) {
  fsync_path(temp.path());
  std::error_code ec;
  fs::rename(temp.path(), path, ec);
  if (ec) HR_THROW(IoError, "cannot rename '{}' to '{}': {}", temp.path(), path, ec.message());
  temp.release();
}

bool committed(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / kMarker, ec);
}

}  // namespace

std::string write_checkpoint(const std::string& root, const Content& c, const Identity& id,
                             comm::Communicator& comm, int64_t keep) {
  const int64_t step = c.state.global_step;
  const fs::path dir = fs::path(root) / step_name(step);
  // Rank 0 removes the folder again when it fails before the commit (disk
  // full): an uncommitted checkpoint must not keep the disk full.
  std::optional<TempPath> uncommitted;
  if (comm.rank() == 0) {
    std::error_code ec;
    fs::remove_all(dir, ec);  // an uncommitted leftover of the same step
    fs::create_directories(dir, ec);
    if (ec) HR_THROW(IoError, "cannot create checkpoint folder '{}': {}", dir.string(), ec.message());
    uncommitted.emplace(dir.string());
  }
  comm.barrier();
  // Each file is written under a temporary name that an exception, a failed
  // write or SIGTERM/SIGINT removes; renamed into place only when complete.
  {
    const std::string path = (dir / rank_file(comm.rank())).string();
    TempPath temp(path + ".tmp");
    {
      h5::Handle file = h5::create_file(temp.path());
      const hid_t f = file.get();
      write_identity(f, kShardFormat, id, comm.size(), comm.rank(), step);
      h5::write_array(f, "global_id", c.owned);
      write_rows(f, "embedding", c.e0);
      write_rows(f, "adam_m", c.m);
      write_rows(f, "adam_v", c.v);
      h5::set_attr(f, "adam_step", c.adam_step);
      h5::close_file(file, path);
    }
    commit_file(temp, path);
  }
  if (comm.rank() == 0) {
    const std::string path = (dir / "dense.h5").string();
    TempPath temp(path + ".tmp");
    {
      h5::Handle file = h5::create_file(temp.path());
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
    commit_file(temp, path);
  }
  if (const int64_t crash = positive_env("HALOREC_TEST_CRASH_IN_CHECKPOINT");
      crash > 0 && crash == step && comm.rank() == comm.size() - 1) {
    log::error("HALOREC_TEST_CRASH_IN_CHECKPOINT: exiting before the commit marker");
    std::_Exit(99);
  }
  comm.barrier();  // every shard is on disk
  if (comm.rank() == 0) {
    const std::string marker = (dir / kMarker).string();
    TempPath temp(marker + ".tmp");
    {
      std::ofstream f(temp.path());
      f << fmt::format("{{\"step\": {}, \"world_size\": {}, \"format_version\": {}}}\n", step,
                       comm.size(), kFormatVersion);
      f.close();
      if (!f) HR_THROW(IoError, "cannot write '{}' (disk full?)", marker);
    }
    commit_file(temp, marker);
    uncommitted->release();
    fsync_path(dir.string());
    fsync_path(root);
    // Retention: newest `keep` committed stay; uncommitted older ones go.
    std::vector<fs::path> done, stale;
    for (const auto& e : fs::directory_iterator(root)) {
      const std::string name = e.path().filename().string();
      if (!e.is_directory() || name.rfind("step-", 0) != 0) continue;
      (committed(e.path()) ? done : stale).push_back(e.path());
    }
    std::sort(done.begin(), done.end());
    std::error_code ec;
    for (size_t k = 0; k + static_cast<size_t>(std::max<int64_t>(keep, 1)) < done.size(); ++k) {
      if (done[k] != dir) fs::remove_all(done[k], ec);
    }
    for (const fs::path& p : stale) {
      if (p.filename() < dir.filename()) fs::remove_all(p, ec);
    }
  }
  comm.barrier();
  return dir.string();
}

std::vector<std::string> list_committed(const std::string& path) {
  std::error_code ec;
  if (committed(path)) return {path};
  std::vector<std::string> found;
  if (!fs::is_directory(path, ec)) return found;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory(ec) && name.rfind("step-", 0) == 0 && committed(e.path())) {
      found.push_back(e.path().string());
    }
  }
  // step-NNNNNNNNNN: the names sort by step.
  std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
    return fs::path(a).filename().string() > fs::path(b).filename().string();
  });
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
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory(ec) && name.rfind("step-", 0) == 0 && !committed(e.path())) {
      std::error_code rm;
      fs::remove_all(e.path(), rm);
      if (!rm) removed.push_back(e.path().string());
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
      const at::Tensor t = read_rows(f, name);
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

#include "serve/model_file.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <string_view>
#include <unordered_set>

#include "core/check.h"
#include "core/quote.h"
#include "core/staged_path.h"
#include "core/version.h"
#include "data/item_names_h5.h"
#include "h5/file.h"

namespace halorec::serve {

namespace {

// The ANN index model.h5 names (ann_index.h).
void write_index_attributes(hid_t f, const ModelFile& m) {
  h5::set_attr(f, "index_file", m.index_file);
  h5::set_attr(f, "index_kind", m.index_kind);
  h5::set_attr(f, "index_sha256", m.index_sha256);
  h5::set_attr(f, "index_bytes", m.index_bytes);
}

void write_attributes(hid_t f, const ModelFile& m) {
  h5::set_attr(f, "format", kModelFormat);
  h5::set_attr(f, "format_version", kModelFormatVersion);
  h5::set_attr(f, "created_by", std::string("halorec ") + kVersion);
  h5::set_attr(f, "model_type", m.model_type);
  h5::set_attr(f, "score", m.score);
  h5::set_attr(f, "dim", m.dim);
  h5::set_attr(f, "layers", m.layers);
  h5::set_attr(f, "dataset_fingerprint", m.dataset_fingerprint);
  if (!m.dataset_path.empty()) h5::set_attr(f, "dataset", m.dataset_path);
  h5::set_attr(f, "step", m.step);
  h5::set_attr(f, "metrics", m.metrics_json);
  h5::set_attr(f, "dtype", m.dtype);
  h5::set_attr(f, "checkpoint", m.checkpoint);
  h5::set_attr(f, "user_ids", m.user_id_scheme);
  h5::set_attr(f, "cold_items", m.cold_items);
  h5::set_attr(f, "cold_users", m.cold_users);
  if (!m.key_check.empty()) h5::set_attr(f, "key_check", m.key_check);
  if (!m.index_file.empty()) write_index_attributes(f, m);
}

void write_rows(hid_t f, const std::vector<std::string>& user_ids,
                const std::vector<float>& user_vectors, const std::vector<std::string>& item_ids,
                const std::vector<float>& item_vectors, int64_t dim, bool half) {
  for (const char* part : {"users", "items"}) {
    const bool users = std::string(part) == "users";
    h5::Handle g = h5::create_group(f, part);
    const auto& ids = users ? user_ids : item_ids;
    const auto& vec = users ? user_vectors : item_vectors;
    h5::write_strings(g.get(), "original_id", ids);
    h5::write_matrix(g.get(), "vector", vec.data(), static_cast<int64_t>(ids.size()), dim, half);
  }
}

}  // namespace

void write_model_part(const ModelPart& part, int64_t dim, const std::string& dtype,
                      const std::string& tag, int rank, int ranks, const std::string& path) {
  StagedPath staged(path);
  {
    h5::Handle file = h5::create_file(staged.temp());
    const hid_t f = file.get();
    h5::set_attr(f, "format", kModelPartFormat);
    h5::set_attr(f, "format_version", kModelFormatVersion);
    h5::set_attr(f, "tag", tag);
    h5::set_attr(f, "rank", static_cast<int64_t>(rank));
    h5::set_attr(f, "ranks", static_cast<int64_t>(ranks));
    write_rows(f, part.user_ids, part.user_vectors, part.item_ids, part.item_vectors, dim,
               dtype == "fp16");
    h5::close_file(file, path);
  }
  staged.commit();
}

void read_model_part_items(const std::string& path, int64_t dim, std::vector<std::string>* ids,
                           std::vector<float>* vectors) {
  h5::Handle file = h5::open_file(path, "model part");
  const hid_t f = file.get();
  if (h5::file_format(path) != kModelPartFormat) {
    HR_THROW(InputError, "'{}' is not a HaloRec model part", path);
  }
  std::vector<std::string> part_ids = h5::read_strings(f, "items/original_id");
  int64_t rows = 0, cols = 0;
  std::vector<float> v =
      h5::read_matrix(f, "items/vector", &rows, &cols, static_cast<int64_t>(part_ids.size()), dim);
  ids->insert(ids->end(), std::make_move_iterator(part_ids.begin()),
              std::make_move_iterator(part_ids.end()));
  vectors->insert(vectors->end(), v.begin(), v.end());
}

void write_model_index(const ModelFile& m, const std::string& tag,
                       const std::vector<std::string>& part_files,
                       const std::vector<int64_t>& users, const std::vector<int64_t>& items,
                       const std::string& path) {
  HR_CHECK(part_files.size() == users.size() && users.size() == items.size(),
           "one user and item count per part");
  StagedPath staged(path);
  {
    h5::Handle file = h5::create_file(staged.temp());
    const hid_t f = file.get();
    write_attributes(f, m);
    h5::set_attr(f, "parts_tag", tag);
    h5::set_attr(f, "parts", static_cast<int64_t>(part_files.size()));
    const h5::VirtualType vt =
        m.dtype == "fp16" ? h5::VirtualType::kFloat16 : h5::VirtualType::kFloat32;
    for (const char* part : {"users", "items"}) {
      const bool u = std::string(part) == "users";
      h5::Handle g = h5::create_group(f, part);
      std::vector<h5::VirtualPart> ids, vectors;
      for (size_t k = 0; k < part_files.size(); ++k) {
        const int64_t rows = u ? users[k] : items[k];
        ids.push_back({part_files[k], std::string(part) + "/original_id", rows});
        vectors.push_back({part_files[k], std::string(part) + "/vector", rows});
      }
      h5::write_virtual(g.get(), "original_id", h5::VirtualType::kString, 0, ids);
      h5::write_virtual(g.get(), "vector", vt, m.dim, vectors);
    }
    if (!m.item_names.empty()) data::write_item_names(f, m.item_names);
    h5::close_file(file, path);
  }
  staged.commit();
}

namespace {

void write_filter_settings(hid_t h, const model::FilterSettings& s) {
  h5::set_attr(h, "kind", s.kind);
  h5::set_attr(h, "alpha", s.alpha);
  h5::set_attr(h, "t_blur", s.t_blur);
  h5::set_attr(h, "blur_steps", s.blur_steps);
  h5::set_attr(h, "blur_solver", s.blur_solver);
  h5::set_attr(h, "t_sharpen", s.t_sharpen);
  h5::set_attr(h, "sharpen_steps", s.sharpen_steps);
  h5::set_attr(h, "sharpen_solver", s.sharpen_solver);
  h5::set_attr(h, "order", s.order);
  h5::set_attr(h, "flatness", s.flatness);
  h5::set_attr(h, "beta", s.beta);
}

void write_filter(hid_t f, const ModelFile& m) {
  h5::Handle g = h5::create_group(f, "filter");
  const hid_t h = g.get();
  write_filter_settings(h, m.filter);
  h5::set_attr(h, "rank", m.filter_rank);
  if (m.filter_mix > 0) h5::set_attr(h, "mix", m.filter_mix);
  h5::write_array(h, "indptr", m.filter_indptr);
  h5::write_array(h, "items", m.filter_items);
  h5::write_array(h, "item_counts", m.filter_item_counts);
  h5::write_array(h, "basis", m.filter_basis);
}

// A filter group as write_filter leaves it, checked: InputError naming the
// file and what is wrong.
model::FilterSettings read_filter_settings(hid_t h, const std::string& path) {
  model::FilterSettings s;
  s.kind = h5::get_attr_string(h, "kind");
  s.alpha = h5::get_attr_double(h, "alpha");
  s.t_blur = h5::get_attr_double(h, "t_blur");
  s.blur_steps = h5::get_attr_int(h, "blur_steps");
  s.blur_solver = h5::get_attr_string(h, "blur_solver");
  s.t_sharpen = h5::get_attr_double(h, "t_sharpen");
  s.sharpen_steps = h5::get_attr_int(h, "sharpen_steps");
  s.sharpen_solver = h5::get_attr_string(h, "sharpen_solver");
  s.order = h5::get_attr_int(h, "order");
  s.flatness = h5::get_attr_double(h, "flatness");
  s.beta = h5::get_attr_double(h, "beta");
  if (s.kind != "gfcf" && s.kind != "bspm" && s.kind != "chebycf") {
    HR_THROW(InputError, "'{}': filter/kind '{}' is not gfcf, bspm or chebycf", path, s.kind);
  }
  auto solver_ok = [](const std::string& x) { return x == "euler" || x == "rk4"; };
  if (!(std::isfinite(s.alpha) && s.alpha >= 0) || !(s.t_blur >= 0 && s.t_blur <= 1e3) ||
      !(s.t_sharpen >= 0 && s.t_sharpen <= 1e3) || s.blur_steps < 1 || s.blur_steps > 1000 ||
      s.sharpen_steps < 1 || s.sharpen_steps > 1000 || !solver_ok(s.blur_solver) ||
      !solver_ok(s.sharpen_solver) || s.order < 1 || s.order > 100 ||
      !(s.flatness > 0 && s.flatness <= 1e3) || !(s.beta >= 0 && s.beta <= 10)) {
    HR_THROW(InputError,
             "'{}': filter/ settings out of range (kind {}, alpha {}, t_blur {}, "
             "blur_steps {}, t_sharpen {}, sharpen_steps {}, order {}, flatness {}, beta {})",
             path, s.kind, s.alpha, s.t_blur, s.blur_steps, s.t_sharpen, s.sharpen_steps, s.order,
             s.flatness, s.beta);
  }
  return s;
}

double read_mix(hid_t h, const std::string& path) {
  if (!h5::has_attr(h, "mix")) return 0;
  const double mix = h5::get_attr_double(h, "mix");
  if (!(mix >= 0 && mix <= 1)) {
    HR_THROW(InputError, "'{}': filter/mix {} is not in [0, 1]", path, mix);
  }
  return mix;
}

void check_filter_values(const std::string& path, const std::vector<double>& counts,
                         const std::vector<float>& basis) {
  for (double n : counts) {
    if (!(n >= 0 && std::isfinite(n))) {
      HR_THROW(InputError, "'{}': filter/item_counts holds {}", path, n);
    }
  }
  for (float v : basis) {
    if (!std::isfinite(v)) HR_THROW(InputError, "'{}': filter/basis holds {}", path, v);
  }
}

void read_filter(hid_t f, const std::string& path, int64_t users, int64_t items, ModelFile& m) {
  h5::Handle g = h5::open_group(f, "filter");
  const hid_t h = g.get();
  m.filter = read_filter_settings(h, path);
  const model::FilterSettings& s = m.filter;
  m.filter_rank = h5::get_attr_int(h, "rank");
  m.filter_mix = read_mix(h, path);
  m.filter_indptr = h5::read_array<int64_t>(h, "indptr");
  m.filter_items = h5::read_array<int64_t>(h, "items");
  m.filter_item_counts = h5::read_array<double>(h, "item_counts");
  m.filter_basis = h5::read_array<float>(h, "basis");
  const auto& ip = m.filter_indptr;
  if (static_cast<int64_t>(ip.size()) != users + 1 || ip.front() != 0 ||
      ip.back() != static_cast<int64_t>(m.filter_items.size()) ||
      static_cast<int64_t>(m.filter_item_counts.size()) != items || m.filter_rank < 0 ||
      static_cast<int64_t>(m.filter_basis.size()) != items * m.filter_rank ||
      (s.alpha > 0 && m.filter_rank == 0)) {
    HR_THROW(InputError,
             "'{}': filter/ holds {} row offsets, {} items, {} item counts and {} "
             "basis values of rank {} for {} users and {} items",
             path, ip.size(), m.filter_items.size(), m.filter_item_counts.size(),
             m.filter_basis.size(), m.filter_rank, users, items);
  }
  for (size_t u = 0; u + 1 < ip.size(); ++u) {
    if (ip[u + 1] < ip[u]) HR_THROW(InputError, "'{}': filter/indptr decreases at row {}", path, u);
  }
  for (int64_t i : m.filter_items) {
    if (i < 0 || i >= items) HR_THROW(InputError, "'{}': filter/items holds {}", path, i);
  }
  check_filter_values(path, m.filter_item_counts, m.filter_basis);
}

}  // namespace

void write_filter_part(const FilterPart& p, const std::string& path) {
  StagedPath staged(path);
  {
    h5::Handle file = h5::create_file(staged.temp());
    const hid_t f = file.get();
    h5::set_attr(f, "format", kFilterPartFormat);
    h5::set_attr(f, "format_version", static_cast<int64_t>(1));
    h5::set_attr(f, "step", p.step);
    h5::set_attr(f, "dataset_fingerprint", p.dataset_fingerprint);
    h5::set_attr(f, "metrics", p.metrics_json);
    h5::Handle g = h5::create_group(f, "filter");
    const hid_t h = g.get();
    write_filter_settings(h, p.settings);
    h5::set_attr(h, "rank", p.rank);
    h5::set_attr(h, "mix", p.mix);
    h5::write_array(h, "item_counts", p.item_counts);
    h5::write_array(h, "basis", p.basis);
    h5::close_file(file, path);
  }
  staged.commit();
}

FilterPart read_filter_part(const std::string& path) {
  h5::Handle file = h5::open_file(path, "filter part");
  const hid_t f = file.get();
  h5::check_file_kind(f, path, {kFilterPartFormat, 1, "filter part",
                                "one is written by 'halorec train' with model.filter"});
  FilterPart p;
  p.step = h5::get_attr_int(f, "step");
  p.dataset_fingerprint = h5::get_attr_string(f, "dataset_fingerprint");
  p.metrics_json = h5::get_attr_string(f, "metrics");
  h5::Handle g = h5::open_group(f, "filter");
  const hid_t h = g.get();
  p.settings = read_filter_settings(h, path);
  p.rank = h5::get_attr_int(h, "rank");
  p.mix = read_mix(h, path);
  p.item_counts = h5::read_array<double>(h, "item_counts");
  p.basis = h5::read_array<float>(h, "basis");
  const int64_t items = static_cast<int64_t>(p.item_counts.size());
  if (p.rank < 0 || static_cast<int64_t>(p.basis.size()) != items * p.rank ||
      (p.settings.alpha > 0 && p.rank == 0)) {
    HR_THROW(InputError, "'{}': filter/ holds {} basis values of rank {} for {} items", path,
             p.basis.size(), p.rank, items);
  }
  check_filter_values(path, p.item_counts, p.basis);
  return p;
}

void write_model_file(const ModelFile& m, const std::string& path) {
  StagedPath staged(path);
  {
    h5::Handle file = h5::create_file(staged.temp());
    const hid_t f = file.get();
    write_attributes(f, m);
    write_rows(f, m.user_ids, m.user_vectors, m.item_ids, m.item_vectors, m.dim, m.dtype == "fp16");
    if (m.fold_layers > 0) {
      h5::Handle g = h5::create_group(f, "fold_in");
      h5::set_attr(g.get(), "layers", m.fold_layers);
      h5::write_array(g.get(), "item_layers", m.fold_item_layers);
      h5::write_array(g.get(), "item_degree", m.fold_item_degree);
      h5::write_array(g.get(), "user_layer0", m.fold_user_layer0);
      if (!m.fold_social_degree.empty()) {
        h5::set_attr(g.get(), "social_weight", m.fold_social_weight);
        h5::set_attr(g.get(), "social_edge_weight", m.fold_social_edge_weight);
        h5::write_array(g.get(), "user_layers", m.fold_user_layers);
        h5::write_array(g.get(), "social_degree", m.fold_social_degree);
      }
    }
    if (m.is_filter()) write_filter(f, m);
    if (!m.item_names.empty()) data::write_item_names(f, m.item_names);
    if (!m.interests.empty()) {
      const InterestTable& t = m.interests;
      h5::Handle g = h5::create_group(f, "interests");
      h5::set_attr(g.get(), "threshold", t.threshold);
      h5::set_attr(g.get(), "max_interests", t.max_interests);
      h5::set_attr(g.get(), "representatives", t.r);
      h5::write_array(g.get(), "user_offsets", t.user_offsets);
      h5::write_array(g.get(), "weight", t.weight);
      h5::write_array(g.get(), "size", t.size);
      h5::write_array(g.get(), "medoid", t.medoid);
      h5::write_array(g.get(), "representatives", t.representatives);
    }
    h5::close_file(file, path);
  }
  staged.commit();
}

namespace {

// A model exported by several ranks reads its rows from part files: HDF5
// would serve fill values (zero vectors, empty ids) for a missing one, so
// every part must be there and belong to this export.
void check_parts(hid_t f, const std::string& path) {
  const std::string tag = h5::get_attr_string(f, "parts_tag");
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  std::set<std::string> checked;  // users/ and items/ name the same part files
  for (const char* name :
       {"users/original_id", "users/vector", "items/original_id", "items/vector"}) {
    for (const std::string& file : h5::virtual_files(f, name)) {
      if (!checked.insert(file).second) continue;
      const std::filesystem::path p =
          std::filesystem::path(file).is_absolute() ? std::filesystem::path(file) : folder / file;
      std::error_code ec;
      if (!std::filesystem::is_regular_file(p, ec)) {
        HR_THROW(InputError,
                 "'{}': its {} rows are in '{}', which is missing (a model exported by several "
                 "ranks keeps its parts in the folder NAME.parts beside it: move or copy them "
                 "together)",
                 path, name, p.string());
      }
      h5::Handle part = h5::open_file(p.string(), "model part");
      const hid_t g = part.get();
      if (!h5::has_attr(g, "format") || h5::get_attr_string(g, "format") != kModelPartFormat ||
          !h5::has_attr(g, "tag") || h5::get_attr_string(g, "tag") != tag) {
        HR_THROW(InputError, "'{}': part '{}' is not a part of this export (tag {})", path,
                 p.string(), tag);
      }
    }
  }
}

}  // namespace

void record_model_index(const std::string& path, const ModelFile& m) {
  StagedPath staged(path);
  std::error_code ec;
  std::filesystem::copy_file(path, staged.temp(), std::filesystem::copy_options::overwrite_existing,
                             ec);
  if (ec) HR_THROW(IoError, "cannot copy '{}' to record its index: {}", path, ec.message());
  {
    h5::Handle f = h5::open_file_for_update(staged.temp(), "model file");
    write_index_attributes(f.get(), m);
    h5::close_file(f, path);
  }
  staged.commit();
}

ModelFile read_model_file(const std::string& path) {
  h5::Handle file = h5::open_file(path, "model");
  const hid_t f = file.get();
  h5::check_file_kind(
      f, path, {kModelFormat, kModelFormatVersion, "model file", "make one with 'halorec export'"});
  ModelFile m;
  m.model_type = h5::get_attr_string(f, "model_type");
  if (h5::has_attr(f, "score")) m.score = h5::get_attr_string(f, "score");
  if (m.score != "dot" && m.score != "cosine") {
    HR_THROW(InputError, "'{}': score '{}' is not dot or cosine", path, quote(m.score));
  }
  m.dim = h5::get_attr_int(f, "dim");
  m.layers = h5::get_attr_int(f, "layers");
  m.dataset_fingerprint = h5::get_attr_string(f, "dataset_fingerprint");
  if (h5::has_attr(f, "dataset")) m.dataset_path = h5::get_attr_string(f, "dataset");
  if (h5::has_attr(f, "checkpoint")) m.checkpoint = h5::get_attr_string(f, "checkpoint");
  m.step = h5::get_attr_int(f, "step");
  m.metrics_json = h5::get_attr_string(f, "metrics");
  m.dtype = h5::get_attr_string(f, "dtype");
  if (h5::has_attr(f, "user_ids")) m.user_id_scheme = h5::get_attr_string(f, "user_ids");
  if (h5::has_attr(f, "cold_items")) m.cold_items = h5::get_attr_int(f, "cold_items");
  if (h5::has_attr(f, "cold_users")) m.cold_users = h5::get_attr_int(f, "cold_users");
  if (h5::has_attr(f, "key_check")) m.key_check = h5::get_attr_string(f, "key_check");
  // A model joined from part files must say which export they belong to:
  // without the tag, missing parts would read as zeros and empty ids.
  bool joined = false;
  for (const char* name :
       {"users/original_id", "users/vector", "items/original_id", "items/vector"}) {
    joined = joined || (h5::exists(f, name) && !h5::virtual_files(f, name).empty());
  }
  if (joined && !h5::has_attr(f, "parts_tag")) {
    HR_THROW(InputError,
             "'{}' joins part files but has no parts_tag (damaged or edited): export "
             "it again",
             path);
  }
  if (joined || h5::has_attr(f, "parts_tag")) check_parts(f, path);
  if (h5::has_attr(f, "index_file")) {
    m.index_file = h5::get_attr_string(f, "index_file");
    m.index_kind = h5::get_attr_string(f, "index_kind");
    m.index_sha256 = h5::get_attr_string(f, "index_sha256");
    m.index_bytes = h5::get_attr_int(f, "index_bytes");
    if (m.index_file.find('/') != std::string::npos || m.index_file.empty()) {
      HR_THROW(InputError, "'{}': index_file '{}' is not a file name", path, quote(m.index_file));
    }
  }
  m.user_ids = h5::read_strings(f, "users/original_id");
  m.item_ids = h5::read_strings(f, "items/original_id");
  if (m.dim < 1 || m.dim > 65536)
    HR_THROW(InputError, "'{}': dim {} is not a dimension", path, m.dim);
  if (m.dtype != "fp32" && m.dtype != "fp16") {
    HR_THROW(InputError, "'{}': dtype '{}' is not fp32 or fp16", path, quote(m.dtype));
  }
  if (m.user_id_scheme != "original" && m.user_id_scheme != "hmac-sha256") {
    HR_THROW(InputError, "'{}': user id scheme '{}' is not original or hmac-sha256", path,
             quote(m.user_id_scheme));
  }
  // Every vector a row per id, every value finite: a NaN would score every item
  // NaN and serve an arbitrary list without a word.
  auto read_vectors = [&](const char* name, size_t ids) {
    int64_t rows = 0, cols = 0;
    // The shape is checked before a byte is read.
    std::vector<float> values =
        h5::read_matrix(f, name, &rows, &cols, static_cast<int64_t>(ids), m.dim);
    for (size_t k = 0; k < values.size(); ++k) {
      if (!std::isfinite(values[k])) {
        HR_THROW(InputError, "'{}': {} row {} holds a NaN or infinite value", path, name,
                 static_cast<int64_t>(k) / m.dim);
      }
    }
    return values;
  };
  // One row per id: a repeated id would be served whichever row comes first.
  for (const auto* ids : {&m.user_ids, &m.item_ids}) {
    std::unordered_set<std::string_view> seen;
    seen.reserve(ids->size());
    for (const std::string& id : *ids) {
      if (!seen.insert(id).second) {
        HR_THROW(InputError, "'{}': {} id '{}' appears more than once (damaged or edited)", path,
                 ids == &m.user_ids ? "user" : "item", quote(id));
      }
    }
  }
  m.user_vectors = read_vectors("users/vector", m.user_ids.size());
  m.item_vectors = read_vectors("items/vector", m.item_ids.size());
  const auto users = static_cast<int64_t>(m.user_ids.size());
  const auto items = static_cast<int64_t>(m.item_ids.size());
  if (m.cold_users < 0 || m.cold_users > users || m.cold_items < 0 || m.cold_items > items) {
    HR_THROW(InputError, "'{}': cold_users {} / cold_items {} exceed its {} users / {} items", path,
             m.cold_users, m.cold_items, users, items);
  }
  if (h5::exists(f, "item_names")) m.item_names = data::read_item_names_group(f, path);
  if (h5::exists(f, "interests")) {
    InterestTable& t = m.interests;
    h5::Handle g = h5::open_group(f, "interests");
    t.threshold = h5::get_attr_double(g.get(), "threshold");
    t.max_interests = h5::get_attr_int(g.get(), "max_interests");
    t.r = h5::get_attr_int(g.get(), "representatives");
    if (t.r < 0 || t.r > 100000 || t.max_interests < 1 || !std::isfinite(t.threshold)) {
      HR_THROW(InputError,
               "'{}': interests attributes out of range (representatives {}, "
               "max_interests {}, threshold {})",
               path, t.r, t.max_interests, t.threshold);
    }
    t.user_offsets = h5::read_array<int64_t>(g.get(), "user_offsets");
    t.weight = h5::read_array<float>(g.get(), "weight");
    t.size = h5::read_array<int64_t>(g.get(), "size");
    t.medoid = h5::read_array<int64_t>(g.get(), "medoid");
    t.representatives = h5::read_array<int64_t>(g.get(), "representatives");
    const int64_t n = t.num_interests();
    if (static_cast<int64_t>(t.user_offsets.size()) != users + 1 || t.user_offsets.front() != 0 ||
        t.user_offsets.back() != n || static_cast<int64_t>(t.medoid.size()) != n ||
        static_cast<int64_t>(t.size.size()) != n ||
        static_cast<int64_t>(t.representatives.size()) != n * t.r) {
      HR_THROW(InputError,
               "'{}': the interests group is inconsistent (user_offsets {} for {} "
               "users, {} interests)",
               path, t.user_offsets.size(), users, n);
    }
    for (int64_t u = 0; u < users; ++u) {
      const int64_t a = t.user_offsets[static_cast<size_t>(u)];
      const int64_t b = t.user_offsets[static_cast<size_t>(u) + 1];
      if (b < a || b - a > t.max_interests) {
        HR_THROW(InputError,
                 "'{}': interests/user_offsets [{}] = {}, [{}] = {}: not increasing "
                 "by at most max_interests {}",
                 path, u, a, u + 1, b, t.max_interests);
      }
    }
    for (int64_t j = 0; j < n; ++j) {
      const auto k = static_cast<size_t>(j);
      if (t.medoid[k] < 0 || t.medoid[k] >= items) {
        HR_THROW(InputError, "'{}': interests/medoid {} is not an item row", path, t.medoid[k]);
      }
      if (!std::isfinite(t.weight[k]) || t.weight[k] < 0 || t.weight[k] > 1 || t.size[k] < 1) {
        HR_THROW(InputError,
                 "'{}': interest {} has weight {} and size {} (expected a share in "
                 "[0, 1] and >= 1 items)",
                 path, j, t.weight[k], t.size[k]);
      }
    }
    for (int64_t item : t.representatives) {
      if (item < -1 || item >= items) {
        HR_THROW(InputError, "'{}': interests/representatives {} is not an item row", path, item);
      }
    }
  }
  if (h5::exists(f, "filter")) read_filter(f, path, users, items, m);
  if (h5::exists(f, "fold_in")) {
    h5::Handle g = h5::open_group(f, "fold_in");
    m.fold_layers = h5::get_attr_int(g.get(), "layers");
    m.fold_item_layers = h5::read_array<float>(g.get(), "item_layers");
    m.fold_item_degree = h5::read_array<double>(g.get(), "item_degree");
    m.fold_user_layer0 = h5::read_array<float>(g.get(), "user_layer0");
    if (m.fold_layers < 1 || m.fold_layers > 64 ||
        static_cast<int64_t>(m.fold_item_layers.size()) != m.fold_layers * items * m.dim ||
        static_cast<int64_t>(m.fold_item_degree.size()) != items ||
        static_cast<int64_t>(m.fold_user_layer0.size()) != users * m.dim) {
      HR_THROW(InputError,
               "'{}': fold_in/ holds {} layers of {} values, {} degrees and {} "
               "layer-0 values for {} users and {} items of dim {}",
               path, m.fold_layers, m.fold_item_layers.size(), m.fold_item_degree.size(),
               m.fold_user_layer0.size(), users, items, m.dim);
    }
    if (h5::exists(g.get(), "social_degree")) {
      m.fold_social_weight = h5::get_attr_double(g.get(), "social_weight");
      m.fold_social_edge_weight = h5::get_attr_double(g.get(), "social_edge_weight");
      m.fold_user_layers = h5::read_array<float>(g.get(), "user_layers");
      m.fold_social_degree = h5::read_array<double>(g.get(), "social_degree");
      if (!(m.fold_social_weight > 0 && m.fold_social_weight <= 1) ||
          !(m.fold_social_edge_weight > 0 && std::isfinite(m.fold_social_edge_weight)) ||
          static_cast<int64_t>(m.fold_user_layers.size()) != m.fold_layers * users * m.dim ||
          static_cast<int64_t>(m.fold_social_degree.size()) != users) {
        HR_THROW(InputError,
                 "'{}': fold_in/ holds social weight {}, {} user layer values and {} social "
                 "degrees for {} layers of {} users of dim {}",
                 path, m.fold_social_weight, m.fold_user_layers.size(),
                 m.fold_social_degree.size(), m.fold_layers, users, m.dim);
      }
    }
    for (const auto* degrees : {&m.fold_item_degree, &m.fold_social_degree}) {
      for (double deg : *degrees) {
        if (!(deg >= 0) || !std::isfinite(deg)) {
          HR_THROW(InputError, "'{}': fold_in/{} holds {}", path,
                   degrees == &m.fold_item_degree ? "item_degree" : "social_degree", deg);
        }
      }
    }
    // A NaN here would fold every user into NaN scores without a word.
    for (const auto* x : {&m.fold_item_layers, &m.fold_user_layer0, &m.fold_user_layers}) {
      for (size_t k = 0; k < x->size(); ++k) {
        if (!std::isfinite((*x)[k])) {
          HR_THROW(InputError, "'{}': fold_in/{} value {} is NaN or infinite", path,
                   x == &m.fold_item_layers   ? "item_layers"
                   : x == &m.fold_user_layer0 ? "user_layer0"
                                              : "user_layers",
                   static_cast<int64_t>(k));
        }
      }
    }
  }
  return m;
}

bool is_model_file(const std::string& path) {
  return h5::file_format(path) == kModelFormat;
}

// A graph filter's rows are the dataset's train matrix in its order.
void check_filter_order(const ModelFile& m, const std::vector<int64_t>& order) {
  if (!m.is_filter()) return;
  for (size_t r = 0; r < order.size(); ++r) {
    if (order[r] != static_cast<int64_t>(r)) {
      HR_THROW(InputError,
               "a graph filter's model.h5 ({}) serves the dataset it was fitted on, "
               "in that dataset's order of users and items; this one's order differs",
               m.filter.kind);
    }
  }
}

void reorder_users(ModelFile& m, const std::vector<int64_t>& order) {
  const auto users = static_cast<int64_t>(m.user_ids.size());
  HR_CHECK_EQ(static_cast<int64_t>(order.size()), users);
  check_filter_order(m, order);
  std::vector<std::string> ids(order.size());
  std::vector<float> vectors(m.user_vectors.size());
  for (size_t r = 0; r < order.size(); ++r) {
    const auto from = static_cast<size_t>(order[r]);
    ids[r] = std::move(m.user_ids[from]);
    std::copy_n(m.user_vectors.begin() + static_cast<int64_t>(from) * m.dim, m.dim,
                vectors.begin() + static_cast<int64_t>(r) * m.dim);
  }
  m.user_ids = std::move(ids);
  m.user_vectors = std::move(vectors);
  if (m.interests.empty()) return;
  const InterestTable& t = m.interests;
  InterestTable out;
  out.r = t.r;
  out.threshold = t.threshold;
  out.max_interests = t.max_interests;
  out.user_offsets.push_back(0);
  const bool with_members = !t.member_offsets.empty();
  if (with_members) out.member_offsets.push_back(0);
  for (int64_t from : order) {
    for (int64_t j = t.user_offsets[static_cast<size_t>(from)];
         j < t.user_offsets[static_cast<size_t>(from) + 1]; ++j) {
      const auto k = static_cast<size_t>(j);
      out.weight.push_back(t.weight[k]);
      out.size.push_back(t.size[k]);
      out.medoid.push_back(t.medoid[k]);
      out.representatives.insert(out.representatives.end(), t.representatives.begin() + j * t.r,
                                 t.representatives.begin() + (j + 1) * t.r);
      if (with_members) {
        out.members.insert(out.members.end(), t.members.begin() + t.member_offsets[k],
                           t.members.begin() + t.member_offsets[k + 1]);
        out.member_offsets.push_back(static_cast<int64_t>(out.members.size()));
      }
    }
    out.user_offsets.push_back(static_cast<int64_t>(out.weight.size()));
  }
  m.interests = std::move(out);
}

void reorder_items(ModelFile& m, const std::vector<int64_t>& order) {
  const auto items = static_cast<int64_t>(m.item_ids.size());
  HR_CHECK_EQ(static_cast<int64_t>(order.size()), items);
  check_filter_order(m, order);
  std::vector<std::string> ids(order.size());
  std::vector<float> vectors(m.item_vectors.size());
  std::vector<int64_t> new_row(order.size());
  for (size_t r = 0; r < order.size(); ++r) {
    const auto from = static_cast<size_t>(order[r]);
    new_row[from] = static_cast<int64_t>(r);
    ids[r] = std::move(m.item_ids[from]);
    std::copy_n(m.item_vectors.begin() + static_cast<int64_t>(from) * m.dim, m.dim,
                vectors.begin() + static_cast<int64_t>(r) * m.dim);
  }
  m.item_ids = std::move(ids);
  m.item_vectors = std::move(vectors);
  std::vector<int64_t> file_row(order.size());
  for (size_t r = 0; r < order.size(); ++r) {
    file_row[r] =
        m.item_file_row.empty() ? order[r] : m.item_file_row[static_cast<size_t>(order[r])];
  }
  m.item_file_row = std::move(file_row);
  InterestTable& t = m.interests;
  for (int64_t& row : t.medoid) row = new_row[static_cast<size_t>(row)];
  for (int64_t& row : t.representatives) {
    if (row >= 0) row = new_row[static_cast<size_t>(row)];
  }
  for (int64_t& row : t.members) row = new_row[static_cast<size_t>(row)];
}

}  // namespace halorec::serve

#include "serve/model_file.h"

#include "core/check.h"
#include "core/staged_path.h"
#include "core/version.h"
#include "h5/file.h"

namespace halorec::serve {

void write_model_file(const ModelFile& m, const std::string& path) {
  StagedPath staged(path);
  {
    h5::Handle file = h5::create_file(staged.temp());
    const hid_t f = file.get();
    h5::set_attr(f, "format", kModelFormat);
    h5::set_attr(f, "format_version", kModelFormatVersion);
    h5::set_attr(f, "created_by", std::string("halorec ") + kVersion);
    h5::set_attr(f, "model_type", m.model_type);
    h5::set_attr(f, "dim", m.dim);
    h5::set_attr(f, "layers", m.layers);
    h5::set_attr(f, "dataset_fingerprint", m.dataset_fingerprint);
    h5::set_attr(f, "step", m.step);
    h5::set_attr(f, "metrics", m.metrics_json);
    h5::set_attr(f, "dtype", m.dtype);
    h5::set_attr(f, "checkpoint", m.checkpoint);
    h5::set_attr(f, "user_ids", m.user_id_scheme);
    h5::set_attr(f, "cold_items", m.cold_items);
    h5::set_attr(f, "cold_users", m.cold_users);
    if (!m.key_check.empty()) h5::set_attr(f, "key_check", m.key_check);
    const bool half = m.dtype == "fp16";
    for (const char* part : {"users", "items"}) {
      const bool users = std::string(part) == "users";
      h5::Handle g = h5::create_group(f, part);
      const auto& ids = users ? m.user_ids : m.item_ids;
      const auto& vec = users ? m.user_vectors : m.item_vectors;
      h5::write_strings(g.get(), "original_id", ids);
      h5::write_matrix(g.get(), "vector", vec.data(), static_cast<int64_t>(ids.size()), m.dim,
                       half);
    }
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
  }
  staged.commit();
}

ModelFile read_model_file(const std::string& path) {
  h5::Handle file = h5::open_file(path, "model");
  const hid_t f = file.get();
  if (!h5::has_attr(f, "format") || h5::get_attr_string(f, "format") != kModelFormat) {
    HR_THROW(InputError, "'{}' is not a HaloRec model file (make one with 'halorec export')",
             path);
  }
  const int64_t v = h5::get_attr_int(f, "format_version");
  if (v != kModelFormatVersion) {
    HR_THROW(InputError, "'{}' has model format_version {}, this HaloRec reads {}", path, v,
             kModelFormatVersion);
  }
  ModelFile m;
  m.model_type = h5::get_attr_string(f, "model_type");
  m.dim = h5::get_attr_int(f, "dim");
  m.layers = h5::get_attr_int(f, "layers");
  m.dataset_fingerprint = h5::get_attr_string(f, "dataset_fingerprint");
  m.step = h5::get_attr_int(f, "step");
  m.metrics_json = h5::get_attr_string(f, "metrics");
  m.dtype = h5::get_attr_string(f, "dtype");
  if (h5::has_attr(f, "user_ids")) m.user_id_scheme = h5::get_attr_string(f, "user_ids");
  if (h5::has_attr(f, "cold_items")) m.cold_items = h5::get_attr_int(f, "cold_items");
  if (h5::has_attr(f, "cold_users")) m.cold_users = h5::get_attr_int(f, "cold_users");
  if (h5::has_attr(f, "key_check")) m.key_check = h5::get_attr_string(f, "key_check");
  m.user_ids = h5::read_strings(f, "users/original_id");
  m.item_ids = h5::read_strings(f, "items/original_id");
  int64_t rows = 0, cols = 0;
  m.user_vectors = h5::read_matrix(f, "users/vector", &rows, &cols);
  if (rows != static_cast<int64_t>(m.user_ids.size()) || cols != m.dim) {
    HR_THROW(InputError, "'{}': users/vector is {}x{}, expected {}x{}", path, rows, cols,
             m.user_ids.size(), m.dim);
  }
  m.item_vectors = h5::read_matrix(f, "items/vector", &rows, &cols);
  if (rows != static_cast<int64_t>(m.item_ids.size()) || cols != m.dim) {
    HR_THROW(InputError, "'{}': items/vector is {}x{}, expected {}x{}", path, rows, cols,
             m.item_ids.size(), m.dim);
  }
  if (h5::exists(f, "interests")) {
    InterestTable& t = m.interests;
    h5::Handle g = h5::open_group(f, "interests");
    t.threshold = h5::get_attr_double(g.get(), "threshold");
    t.max_interests = h5::get_attr_int(g.get(), "max_interests");
    t.r = h5::get_attr_int(g.get(), "representatives");
    t.user_offsets = h5::read_array<int64_t>(g.get(), "user_offsets");
    t.weight = h5::read_array<float>(g.get(), "weight");
    t.size = h5::read_array<int64_t>(g.get(), "size");
    t.medoid = h5::read_array<int64_t>(g.get(), "medoid");
    t.representatives = h5::read_array<int64_t>(g.get(), "representatives");
    const int64_t n = t.num_interests();
    if (static_cast<int64_t>(t.user_offsets.size()) !=
            static_cast<int64_t>(m.user_ids.size()) + 1 ||
        t.user_offsets.back() != n || static_cast<int64_t>(t.medoid.size()) != n ||
        static_cast<int64_t>(t.size.size()) != n ||
        static_cast<int64_t>(t.representatives.size()) != n * t.r) {
      HR_THROW(InputError,
               "'{}': the interests group is inconsistent (user_offsets {} for {} "
               "users, {} interests)",
               path, t.user_offsets.size(), m.user_ids.size(), n);
    }
    for (int64_t medoid : t.medoid) {
      if (medoid < 0 || medoid >= static_cast<int64_t>(m.item_ids.size())) {
        HR_THROW(InputError, "'{}': interests/medoid {} is not an item row", path, medoid);
      }
    }
  }
  return m;
}

}  // namespace halorec::serve

#include "data/features.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <unordered_map>

#include "core/check.h"
#include "core/quote.h"
#include "core/staged_path.h"
#include "h5/file.h"

namespace halorec::data {

namespace {

// A .npy file: version 1-3 header, '<f4' or '<f8', C order, 2-D.
std::vector<float> read_npy(const std::string& path, int64_t* rows, int64_t* cols) {
  std::ifstream f(path, std::ios::binary);
  if (!f) HR_THROW(InputError, "{}: cannot be read", path);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) {
    HR_THROW(InputError, "{}: not a .npy file (no \\x93NUMPY magic)", path);
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) |
                 (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) HR_THROW(InputError, "{}: truncated .npy header", path);
    for (int k = 0; k < 4; ++k) {
      header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + k])) << (8 * k);
    }
    offset = 12;
  } else {
    HR_THROW(InputError, "{}: .npy version {} is not supported", path, major);
  }
  if (offset + header_len > bytes.size()) HR_THROW(InputError, "{}: truncated .npy header", path);
  const std::string header = bytes.substr(offset, header_len);
  auto value_of = [&](const std::string& key) {
    const size_t k = header.find("'" + key + "'");
    if (k == std::string::npos) HR_THROW(InputError, "{}: .npy header has no '{}'", path, key);
    const size_t colon = header.find(':', k);
    return header.substr(colon + 1);
  };
  const std::string descr_part = value_of("descr");
  const size_t q1 = descr_part.find('\'');
  const size_t q2 = descr_part.find('\'', q1 + 1);
  const std::string descr = descr_part.substr(q1 + 1, q2 - q1 - 1);
  if (descr != "<f4" && descr != "<f8") {
    HR_THROW(InputError, "{}: dtype '{}' is not supported (float32 '<f4' or float64 '<f8')", path,
             descr);
  }
  if (value_of("fortran_order").find("True") < value_of("fortran_order").find(',')) {
    HR_THROW(InputError, "{}: Fortran-order arrays are not supported (save a C-order copy)", path);
  }
  const std::string shape_part = value_of("shape");
  const size_t open = shape_part.find('('), close = shape_part.find(')');
  const std::string shape = shape_part.substr(open + 1, close - open - 1);
  std::vector<int64_t> dims;
  size_t pos = 0;
  while (pos < shape.size()) {
    const size_t comma = shape.find(',', pos);
    const std::string part =
        shape.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (part.find_first_not_of(" ") != std::string::npos) dims.push_back(std::stoll(part));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (dims.size() != 2) {
    HR_THROW(InputError, "{}: a {}-D array, expected 2-D (items x dim)", path, dims.size());
  }
  *rows = dims[0];
  *cols = dims[1];
  const size_t width = descr == "<f4" ? 4 : 8;
  const size_t n = static_cast<size_t>(dims[0] * dims[1]);
  const size_t data = offset + header_len;
  if (bytes.size() - data < n * width) {
    HR_THROW(InputError, "{}: {} bytes of data, the header promises {}", path, bytes.size() - data,
             n * width);
  }
  std::vector<float> out(n);
  if (width == 4) {
    std::memcpy(out.data(), bytes.data() + data, n * 4);
  } else {
    for (size_t k = 0; k < n; ++k) {
      double v;
      std::memcpy(&v, bytes.data() + data + 8 * k, 8);
      out[k] = static_cast<float>(v);
    }
  }
  return out;
}

std::vector<std::string> read_id_lines(const std::string& path) {
  std::ifstream f(path);
  if (!f) HR_THROW(InputError, "{}: cannot be read (the ids of the .npy rows, one per line)", path);
  std::vector<std::string> ids;
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) ids.push_back(line);
  }
  return ids;
}

std::vector<std::string> read_h5_ids(hid_t f, const std::string& path) {
  if (!h5::exists(f, "ids")) HR_THROW(InputError, "{}: no 'ids' dataset", path);
  try {
    return h5::read_strings(f, "ids");
  } catch (const InputError&) {
    std::vector<std::string> out;
    for (int64_t v : h5::read_array<int64_t>(f, "ids")) out.push_back(std::to_string(v));
    return out;
  }
}

}  // namespace

std::string default_feature_ids_path(const std::string& p) {
  const std::string ext = ".npy";
  if (p.size() > ext.size() && p.compare(p.size() - ext.size(), ext.size(), ext) == 0) {
    return p.substr(0, p.size() - ext.size()) + ".ids";
  }
  return p + ".ids";
}

Features read_features(const std::string& path, const std::string& ids_path,
                       const std::vector<std::string>& item_ids, const std::string& what,
                       bool missing_is_error, bool unknown_is_error) {
  int64_t rows = 0, cols = 0;
  std::vector<float> matrix;
  std::vector<std::string> ids;
  std::string ids_source = path;
  const bool npy = path.size() > 4 && path.compare(path.size() - 4, 4, ".npy") == 0;
  if (npy) {
    matrix = read_npy(path, &rows, &cols);
    ids_source = ids_path.empty() ? default_feature_ids_path(path) : ids_path;
    ids = read_id_lines(ids_source);
  } else {
    h5::Handle file = h5::open_file(path, what + " features");
    if (!h5::exists(file.get(), "vectors")) HR_THROW(InputError, "{}: no 'vectors' dataset", path);
    matrix = h5::read_matrix(file.get(), "vectors", &rows, &cols);
    ids = read_h5_ids(file.get(), path);
  }
  if (static_cast<int64_t>(ids.size()) != rows) {
    HR_THROW(InputError, "{}: {} ids for {} feature rows", ids_source, ids.size(), rows);
  }
  if (cols < 1) HR_THROW(InputError, "{}: feature vectors of dimension {}", path, cols);
  std::unordered_map<std::string, int64_t> item_of;
  item_of.reserve(item_ids.size());
  for (size_t i = 0; i < item_ids.size(); ++i)
    item_of.emplace(item_ids[i], static_cast<int64_t>(i));
  Features out;
  out.dim = cols;
  out.rows.assign(item_ids.size() * static_cast<size_t>(cols), 0.0f);
  out.present.assign(item_ids.size(), 0);
  std::unordered_map<std::string, int64_t> seen_row;
  for (int64_t r = 0; r < rows; ++r) {
    const std::string& id = ids[static_cast<size_t>(r)];
    const auto [prev, fresh] = seen_row.emplace(id, r);
    if (!fresh) {
      HR_THROW(InputError, "{}: {} id '{}' has two feature rows ({} and {})", ids_source, what,
               quote(id), prev->second, r);
    }
    const float* src = matrix.data() + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      if (!std::isfinite(src[c])) {
        HR_THROW(InputError, "{}: row {} ({} '{}') has a non-finite value", path, r, what,
                 quote(id));
      }
    }
    const auto it = item_of.find(id);
    if (it == item_of.end()) {
      out.cold_ids.push_back(id);
      out.cold_rows.insert(out.cold_rows.end(), src, src + cols);
    } else {
      std::memcpy(out.rows.data() + it->second * cols, src,
                  static_cast<size_t>(cols) * sizeof(float));
      out.present[static_cast<size_t>(it->second)] = 1;
    }
  }
  if (unknown_is_error && !out.cold_ids.empty()) {
    std::string list;
    for (size_t k = 0; k < std::min<size_t>(5, out.cold_ids.size()); ++k) {
      list += (list.empty() ? "'" : ", '") + out.cold_ids[k] + "'";
    }
    HR_THROW(InputError,
             "{}: {} feature rows have ids that are not {}s of the dataset (first: "
             "{}); set data.unknown_feature_ids: cold to make them cold-start {}s",
             ids_source, out.cold_ids.size(), what, list, what);
  }
  std::vector<std::string> missing;
  for (size_t i = 0; i < item_ids.size(); ++i) {
    if (!out.present[i]) {
      ++out.missing;
      if (missing.size() < 5) missing.push_back("'" + item_ids[i] + "'");
    }
  }
  if (out.missing > 0 && missing_is_error) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    HR_THROW(InputError,
             "{}: {} of the dataset's {} {}s have no feature row (first: {}); "
             "set data.missing_features: zero to use id vectors alone for them",
             path, out.missing, item_ids.size(), what, list);
  }
  return out;
}

void write_features_h5(const std::string& path, const std::vector<std::string>& ids,
                       const std::vector<float>& rows, int64_t dim) {
  HR_CHECK(static_cast<int64_t>(rows.size()) == static_cast<int64_t>(ids.size()) * dim,
           "write_features_h5: {} values for {} x {}", rows.size(), ids.size(), dim);
  StagedPath staged(path);
  {
    h5::Handle file = h5::create_file(staged.temp());
    h5::write_strings(file.get(), "ids", ids);
    h5::write_matrix(file.get(), "vectors", rows.data(), static_cast<int64_t>(ids.size()), dim,
                     false);
    h5::close_file(file, path);
  }
  staged.commit();
}

}  // namespace halorec::data

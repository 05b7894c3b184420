#include "data/features.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unordered_map>

#include "core/check.h"
#include "core/quote.h"
#include "core/staged_path.h"
#include "data/id_table.h"
#include "data/line_reader.h"
#include "h5/file.h"

namespace halorec::data {

namespace {

// Widths of feature vectors HaloRec reads (its encoders' inputs).
constexpr int64_t kMaxFeatureDim = 1 << 16;

// The header of a .npy file: a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (4, 8), }. Parsed
// strictly: anything else is an InputError naming the file.
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

class NpyHeaderParser {
 public:
  NpyHeaderParser(const std::string& text, const std::string& path) : t_(text), path_(path) {}

  NpyHeader parse() {
    NpyHeader h;
    bool has_descr = false, has_order = false, has_shape = false;
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = string_literal();
      expect(':');
      if (key == "descr") {
        h.descr = string_literal();
        has_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = boolean();
        has_order = true;
      } else if (key == "shape") {
        h.shape = tuple();
        has_shape = true;
      } else {
        fail("unknown key '" + quote(key) + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++at_;
        continue;
      }
      if (peek() != '}') fail("expected ',' or '}'");
    }
    ++at_;
    skip_space();
    if (at_ != t_.size()) fail("text after the dict");
    if (!has_descr || !has_order || !has_shape) fail("'descr', 'fortran_order' and 'shape' are required");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    HR_THROW(InputError, "{}: malformed .npy header ({} at character {}): '{}'", path_, what, at_,
             quote(t_, 120));
  }
  char peek() const { return at_ < t_.size() ? t_[at_] : '\0'; }
  void skip_space() {
    while (at_ < t_.size() && (t_[at_] == ' ' || t_[at_] == '\n' || t_[at_] == '\t')) ++at_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++at_;
  }
  std::string string_literal() {
    skip_space();
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    const size_t end = t_.find(q, at_ + 1);
    if (end == std::string::npos || end - at_ > 64) fail("unterminated string");
    std::string v = t_.substr(at_ + 1, end - at_ - 1);
    at_ = end + 1;
    return v;
  }
  bool boolean() {
    skip_space();
    if (t_.compare(at_, 4, "True") == 0) {
      at_ += 4;
      return true;
    }
    if (t_.compare(at_, 5, "False") == 0) {
      at_ += 5;
      return false;
    }
    fail("expected True or False");
  }
  std::vector<int64_t> tuple() {
    expect('(');
    std::vector<int64_t> dims;
    for (;;) {
      skip_space();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') fail("expected a dimension");
      int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (v > (int64_t{1} << 56)) fail("a dimension too large");
        v = v * 10 + (peek() - '0');
        ++at_;
      }
      dims.push_back(v);
      if (dims.size() > 8) fail("more than 8 dimensions");
      skip_space();
      if (peek() == ',') {
        ++at_;
        continue;
      }
      if (peek() != ')') fail("expected ',' or ')'");
    }
    ++at_;
    return dims;
  }

  const std::string& t_;
  const std::string& path_;
  size_t at_ = 0;
};

// A .npy file: version 1-3 header, '<f4' or '<f8', C order, 2-D, exactly
// rows x cols values after the header.
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
  if (header_len > bytes.size() - offset) HR_THROW(InputError, "{}: truncated .npy header", path);
  const NpyHeader h = NpyHeaderParser(bytes.substr(offset, header_len), path).parse();
  if (h.descr != "<f4" && h.descr != "<f8") {
    HR_THROW(InputError, "{}: dtype '{}' is not supported (float32 '<f4' or float64 '<f8')", path,
             quote(h.descr));
  }
  if (h.fortran_order) {
    HR_THROW(InputError, "{}: Fortran-order arrays are not supported (save a C-order copy)", path);
  }
  if (h.shape.size() != 2) {
    HR_THROW(InputError, "{}: a {}-D array, expected 2-D (rows x dim)", path, h.shape.size());
  }
  *rows = h.shape[0];
  *cols = h.shape[1];
  if (*cols < 1 || *cols > kMaxFeatureDim) {
    HR_THROW(InputError, "{}: feature vectors of dimension {}, expected 1..{}", path, *cols,
             kMaxFeatureDim);
  }
  const size_t width = h.descr == "<f4" ? 4 : 8;
  const size_t data = offset + header_len;
  // The header's promise against the bytes that are there, before allocating.
  const uint64_t available = (bytes.size() - data) / width;
  if (static_cast<uint64_t>(*rows) > available / static_cast<uint64_t>(*cols) ||
      static_cast<uint64_t>(*rows) * static_cast<uint64_t>(*cols) * width != bytes.size() - data) {
    HR_THROW(InputError, "{}: {} bytes of data, the header's shape ({}, {}) of '{}' needs {}",
             path, bytes.size() - data, *rows, *cols, h.descr,
             fmt::format("{:.0f}", static_cast<double>(*rows) * static_cast<double>(*cols) *
                                       static_cast<double>(width)));
  }
  const size_t n = static_cast<size_t>(*rows) * static_cast<size_t>(*cols);
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
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    HR_THROW(InputError, "{}: cannot be read (the ids of the .npy rows, one per line)", path);
  }
  LineReader reader(path);
  std::vector<std::string> ids;
  std::string_view line;
  while (reader.next(&line)) {
    if (line.empty()) continue;
    const std::string problem = id_problem(line);
    if (!problem.empty()) {
      HR_THROW(InputError, "{}:{}: id '{}' {}", path, reader.line_number(), quote(line, 60),
               problem);
    }
    ids.emplace_back(line);
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
    ids = read_h5_ids(file.get(), path);
    // One row per id and a width HaloRec encodes, checked before reading.
    h5::matrix_shape(file.get(), "vectors", &rows, &cols);
    if (static_cast<int64_t>(ids.size()) != rows) {
      HR_THROW(InputError, "{}: {} ids for {} feature rows", ids_source, ids.size(), rows);
    }
    if (cols > kMaxFeatureDim) {
      HR_THROW(InputError, "{}: feature vectors of dimension {}, expected 1..{}", path, cols,
               kMaxFeatureDim);
    }
    matrix = h5::read_matrix(file.get(), "vectors", &rows, &cols, rows, cols);
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

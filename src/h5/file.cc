#include "h5/file.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <new>
#include <stdexcept>

#include "core/check.h"
#include "h5/library_lock.h"

namespace halorec::h5 {

namespace {
constexpr hsize_t kChunk = 1 << 18;

// What a read of `elements` values may allocate is first checked against
// what the file stores: a dataset is refused when it declares more values
// than its storage can hold (uncompressed: its allocated bytes; filtered:
// deflate's 1032:1 bound, with room for small ones), so a small file cannot
// make HaloRec allocate gigabytes of fill values. Virtual datasets are
// checked by their readers (their parts are files of their own).
void check_stored(hid_t dset, hid_t loc, const std::string& name, uint64_t elements) {
  const LibraryLock lock;
  if (elements == 0) return;
  Handle plist(H5_CHECK(H5Dget_create_plist(dset), "plist of {}", describe(loc, name)), H5Pclose);
  const H5D_layout_t layout = H5Pget_layout(plist.get());
  if (layout == H5D_VIRTUAL || layout == H5D_COMPACT) return;
  Handle type(H5_CHECK(H5Dget_type(dset), "type of {}", describe(loc, name)), H5Tclose);
  const uint64_t width = std::max<size_t>(1, H5Tget_size(type.get()));
  const long double declared = static_cast<long double>(elements) * width;
  const long double stored = static_cast<long double>(H5Dget_storage_size(dset));
  const bool filtered = layout == H5D_CHUNKED && H5Pget_nfilters(plist.get()) > 0;
  const long double can_hold = filtered ? stored * 1100 + (1 << 20) : stored;
  if (declared > can_hold) {
    HR_THROW(InputError, "{}: declares {} values ({} bytes) but stores {} bytes{} (truncated, "
             "or not written by HaloRec?)", describe(loc, name), elements,
             static_cast<uint64_t>(declared), static_cast<uint64_t>(stored),
             filtered ? " compressed" : "");
  }
}

// A buffer of `n` values, or an IoError naming the dataset when memory is short.
template <typename V>
V buffer_for(size_t n, hid_t loc, const std::string& name) {
  const LibraryLock lock;
  try {
    return V(n);
  } catch (const std::bad_alloc&) {
    HR_THROW(IoError, "{}: not enough memory to read its {} values", describe(loc, name), n);
  } catch (const std::length_error&) {
    HR_THROW(IoError, "{}: not enough memory to read its {} values", describe(loc, name), n);
  }
}

Handle open_dataset(hid_t loc, const std::string& name) {
  const LibraryLock lock;
  quiet_errors();
  if (!exists(loc, name)) {
    HR_THROW(InputError, "{}: missing dataset", describe(loc, name));
  }
  hid_t id = H5_CHECK(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "cannot open {}",
                      describe(loc, name));
  return Handle(id, H5Dclose);
}

int64_t checked_size_1d(hid_t dset, hid_t loc, const std::string& name) {
  const LibraryLock lock;
  Handle space(H5_CHECK(H5Dget_space(dset), "dataspace of {}", describe(loc, name)), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank != 1) {
    HR_THROW(InputError, "{}: expected a 1-D dataset, found rank {}", describe(loc, name), rank);
  }
  hsize_t dim = 0;
  H5Sget_simple_extent_dims(space.get(), &dim, nullptr);
  return static_cast<int64_t>(dim);
}

// InputError unless the dataset's stored type is of T's class.
template <typename T>
void check_type_class(hid_t dset, hid_t loc, const std::string& name) {
  const LibraryLock lock;
  Handle type(H5_CHECK(H5Dget_type(dset), "type of {}", describe(loc, name)), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  const bool ok = std::is_floating_point_v<T> ? cls == H5T_FLOAT : cls == H5T_INTEGER;
  if (!ok) {
    HR_THROW(InputError, "{}: stored as {}, expected {}", describe(loc, name),
             cls == H5T_FLOAT ? "floats" : cls == H5T_INTEGER ? "integers"
             : cls == H5T_STRING ? "strings" : "another type",
             std::is_floating_point_v<T> ? "floats" : "integers");
  }
}

Handle open_attr(hid_t loc, const std::string& name) {
  const LibraryLock lock;
  quiet_errors();
  if (H5Aexists(loc, name.c_str()) <= 0) {
    HR_THROW(InputError, "{}: missing attribute '{}'", describe(loc), name);
  }
  return Handle(H5_CHECK(H5Aopen(loc, name.c_str(), H5P_DEFAULT), "cannot open attribute '{}' of {}",
                         name, describe(loc)),
                H5Aclose);
}

void replace_attr(hid_t loc, const std::string& name) {
  const LibraryLock lock;
  if (H5Aexists(loc, name.c_str()) > 0) {
    H5_CHECK(H5Adelete(loc, name.c_str()), "cannot replace attribute '{}'", name);
  }
}
}  // namespace

template <>
hid_t native_type<int32_t>() { return H5T_NATIVE_INT32; }
template <>
hid_t native_type<int64_t>() { return H5T_NATIVE_INT64; }
template <>
hid_t native_type<uint8_t>() { return H5T_NATIVE_UINT8; }
template <>
hid_t native_type<uint64_t>() { return H5T_NATIVE_UINT64; }
template <>
hid_t native_type<float>() { return H5T_NATIVE_FLOAT; }
template <>
hid_t native_type<double>() { return H5T_NATIVE_DOUBLE; }
template <>
hid_t native_type<uint16_t>() { return H5T_NATIVE_UINT16; }

Handle create_file(const std::string& path) {
  const LibraryLock lock;
  quiet_errors();
  // EXCL (O_CREAT|O_EXCL): never through a symlink, never over a file.
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) HR_THROW(IoError, "cannot create HDF5 file '{}' ({})", path, error_stack_message());
  return Handle(id, H5Fclose);
}

Handle open_file(const std::string& path, const std::string& what) {
  const LibraryLock lock;
  quiet_errors();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    HR_THROW(InputError, "{} '{}' does not exist", what, path);
  }
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    HR_THROW(InputError, "{} '{}' is not a readable HDF5 file (corrupt or truncated?)", what,
             path);
  }
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) {
    HR_THROW(InputError, "cannot open {} '{}' ({})", what, path, error_stack_message());
  }
  return Handle(id, H5Fclose);
}

Handle open_file_for_update(const std::string& path, const std::string& what) {
  const LibraryLock lock;
  open_file(path, what);  // the same checks and errors
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  if (id < 0) {
    HR_THROW(InputError, "cannot open {} '{}' for writing ({})", what, path,
             error_stack_message());
  }
  return Handle(id, H5Fclose);
}

void close_file(Handle& file, const std::string& path) {
  const LibraryLock lock;
  if (!file.valid()) return;
  const hid_t id = file.get();
  if (H5Fflush(id, H5F_SCOPE_GLOBAL) < 0) {
    const std::string why = error_stack_message();
    file.reset();
    HR_THROW(IoError, "cannot write '{}' ({})", path, why);
  }
  // Handle::reset records a failed close (for the process exit) in the flag.
  const bool failed_before = unclean_exit();
  file.reset();
  if (!failed_before && unclean_exit()) HR_THROW(IoError, "cannot close '{}'", path);
}

void check_file_kind(hid_t f, const std::string& path, const FileKind& kind) {
  const LibraryLock lock;
  if (!has_attr(f, "format") || get_attr_string(f, "format") != kind.format) {
    HR_THROW(InputError, "'{}' is not a HaloRec {} (no format attribute '{}'); {}", path,
             kind.name, kind.format, kind.made_by);
  }
  const int64_t v = get_attr_int(f, "format_version");
  if (v != kind.version) {
    HR_THROW(InputError, "'{}' has {} format_version {}, this HaloRec reads {}", path, kind.name,
             v, kind.version);
  }
}

std::string file_format(const std::string& path) {
  const LibraryLock lock;
  quiet_errors();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return "";
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return "";
  }
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) {
    H5Eclear2(H5E_DEFAULT);
    return "";
  }
  Handle file(id, H5Fclose);
  try {
    return has_attr(id, "format") ? get_attr_string(id, "format") : "";
  } catch (const std::exception&) {
    return "";
  }
}

Handle create_group(hid_t loc, const std::string& name) {
  const LibraryLock lock;
  // No modification times, so that equal content gives byte-identical files.
  Handle gcpl(H5_CHECK(H5Pcreate(H5P_GROUP_CREATE), "plist"), H5Pclose);
  H5_CHECK(H5Pset_obj_track_times(gcpl.get(), 0), "plist");
  hid_t id = H5_CHECK(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
                      "cannot create group {}", describe(loc, name));
  return Handle(id, H5Gclose);
}

Handle open_group(hid_t loc, const std::string& name) {
  const LibraryLock lock;
  quiet_errors();
  if (!exists(loc, name)) HR_THROW(InputError, "{}: missing group", describe(loc, name));
  hid_t id = H5_CHECK(H5Gopen2(loc, name.c_str(), H5P_DEFAULT), "cannot open group {}",
                      describe(loc, name));
  return Handle(id, H5Gclose);
}

bool exists(hid_t loc, const std::string& path) {
  const LibraryLock lock;
  quiet_errors();
  // Check each component so that a missing parent is "no", not an error.
  std::string prefix;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? std::string::npos
                                                                      : slash - start);
    if (!part.empty()) {
      prefix += (prefix.empty() ? "" : "/") + part;
      if (H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return false;
      }
      // HaloRec's files hold no soft or external links: following one can
      // loop or open another file.
      H5L_info_t info;
      if (H5Lget_info(loc, prefix.c_str(), &info, H5P_DEFAULT) < 0) {
        H5Eclear2(H5E_DEFAULT);
        return false;
      }
      if (info.type != H5L_TYPE_HARD) {
        HR_THROW(InputError, "{}: is a {} link; HaloRec reads only objects stored in the file",
                 describe(loc, prefix), info.type == H5L_TYPE_SOFT ? "soft"
                                        : info.type == H5L_TYPE_EXTERNAL ? "external"
                                                                         : "user-defined");
      }
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return true;
}

template <typename T>
void write_array(hid_t loc, const std::string& name, const T* data, size_t n,
                 const WriteOptions& options) {
  const LibraryLock lock;
  hsize_t dim = n;
  Handle space(H5_CHECK(H5Screate_simple(1, &dim, nullptr), "dataspace"), H5Sclose);
  Handle plist(H5_CHECK(H5Pcreate(H5P_DATASET_CREATE), "plist"), H5Pclose);
  H5_CHECK(H5Pset_obj_track_times(plist.get(), 0), "plist");
  if (options.compress && n > kChunk) {
    hsize_t chunk = kChunk;
    H5_CHECK(H5Pset_chunk(plist.get(), 1, &chunk), "chunking {}", describe(loc, name));
    H5_CHECK(H5Pset_shuffle(plist.get()), "shuffle filter");
    H5_CHECK(H5Pset_deflate(plist.get(), 1), "deflate filter");
  }
  Handle dset(H5_CHECK(H5Dcreate2(loc, name.c_str(), native_type<T>(), space.get(), H5P_DEFAULT,
                                  plist.get(), H5P_DEFAULT),
                       "cannot create {}", describe(loc, name)),
              H5Dclose);
  if (n > 0) {
    H5_CHECK(H5Dwrite(dset.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data),
             "cannot write {}", describe(loc, name));
  }
}

int64_t array_size(hid_t loc, const std::string& name) {
  const LibraryLock lock;
  Handle dset = open_dataset(loc, name);
  return checked_size_1d(dset.get(), loc, name);
}

template <typename T>
std::vector<T> read_array(hid_t loc, const std::string& name) {
  const LibraryLock lock;
  Handle dset = open_dataset(loc, name);
  const int64_t n = checked_size_1d(dset.get(), loc, name);
  check_type_class<T>(dset.get(), loc, name);
  check_stored(dset.get(), loc, name, static_cast<uint64_t>(n));
  auto out = buffer_for<std::vector<T>>(static_cast<size_t>(n), loc, name);
  if (n > 0) {
    H5_CHECK(H5Dread(dset.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()),
             "cannot read {}", describe(loc, name));
  }
  return out;
}

template <typename T>
std::vector<T> read_slice(hid_t loc, const std::string& name, int64_t offset, int64_t count) {
  const LibraryLock lock;
  Handle dset = open_dataset(loc, name);
  const int64_t n = checked_size_1d(dset.get(), loc, name);
  check_type_class<T>(dset.get(), loc, name);
  if (offset < 0 || count < 0 || offset + count > n) {
    HR_THROW(InputError, "{}: slice [{}, {}) is outside its {} elements", describe(loc, name),
             offset, offset + count, n);
  }
  check_stored(dset.get(), loc, name, static_cast<uint64_t>(n));
  auto out = buffer_for<std::vector<T>>(static_cast<size_t>(count), loc, name);
  if (count == 0) return out;
  Handle file_space(H5_CHECK(H5Dget_space(dset.get()), "dataspace"), H5Sclose);
  hsize_t start = offset;
  hsize_t cnt = count;
  H5_CHECK(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &cnt, nullptr),
           "select");
  Handle mem_space(H5_CHECK(H5Screate_simple(1, &cnt, nullptr), "dataspace"), H5Sclose);
  H5_CHECK(H5Dread(dset.get(), native_type<T>(), mem_space.get(), file_space.get(), H5P_DEFAULT,
                   out.data()),
           "cannot read {}", describe(loc, name));
  return out;
}

#define HALOREC_H5_INSTANTIATE(T)                                                           \
  template void write_array<T>(hid_t, const std::string&, const T*, size_t,                 \
                               const WriteOptions&);                                        \
  template std::vector<T> read_array<T>(hid_t, const std::string&);                         \
  template std::vector<T> read_slice<T>(hid_t, const std::string&, int64_t, int64_t);
HALOREC_H5_INSTANTIATE(int32_t)
HALOREC_H5_INSTANTIATE(int64_t)
HALOREC_H5_INSTANTIATE(uint8_t)
HALOREC_H5_INSTANTIATE(uint16_t)
HALOREC_H5_INSTANTIATE(uint64_t)
HALOREC_H5_INSTANTIATE(float)
HALOREC_H5_INSTANTIATE(double)
#undef HALOREC_H5_INSTANTIATE

namespace {
Handle half_type() {
  const LibraryLock lock;
  Handle t(H5_CHECK(H5Tcopy(H5T_IEEE_F32LE), "half type"), H5Tclose);
  H5_CHECK(H5Tset_fields(t.get(), 15, 10, 5, 0, 10), "half type");
  H5_CHECK(H5Tset_size(t.get(), 2), "half type");
  H5_CHECK(H5Tset_ebias(t.get(), 15), "half type");
  return t;
}
}  // namespace

void write_matrix(hid_t loc, const std::string& name, const float* data, int64_t rows,
                  int64_t cols, bool half) {
  const LibraryLock lock;
  hsize_t dims[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(cols)};
  Handle space(H5_CHECK(H5Screate_simple(2, dims, nullptr), "dataspace"), H5Sclose);
  Handle plist(H5_CHECK(H5Pcreate(H5P_DATASET_CREATE), "plist"), H5Pclose);
  H5_CHECK(H5Pset_obj_track_times(plist.get(), 0), "plist");
  Handle file_type = half ? half_type() : Handle(H5_CHECK(H5Tcopy(H5T_IEEE_F32LE), "type"), H5Tclose);
  Handle dset(H5_CHECK(H5Dcreate2(loc, name.c_str(), file_type.get(), space.get(), H5P_DEFAULT,
                                  plist.get(), H5P_DEFAULT),
                       "cannot create {}", describe(loc, name)),
              H5Dclose);
  if (rows * cols > 0) {
    H5_CHECK(H5Dwrite(dset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data),
             "cannot write {}", describe(loc, name));
  }
}

void matrix_shape(hid_t loc, const std::string& name, int64_t* rows, int64_t* cols) {
  const LibraryLock lock;
  Handle dset = open_dataset(loc, name);
  Handle space(H5_CHECK(H5Dget_space(dset.get()), "dataspace"), H5Sclose);
  if (H5Sget_simple_extent_ndims(space.get()) != 2) {
    HR_THROW(InputError, "{}: expected a 2-D dataset", describe(loc, name));
  }
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  *rows = static_cast<int64_t>(dims[0]);
  *cols = static_cast<int64_t>(dims[1]);
}

std::vector<float> read_matrix(hid_t loc, const std::string& name, int64_t* rows,
                               int64_t* cols, int64_t expected_rows, int64_t expected_cols) {
  const LibraryLock lock;
  Handle dset = open_dataset(loc, name);
  Handle space(H5_CHECK(H5Dget_space(dset.get()), "dataspace"), H5Sclose);
  if (H5Sget_simple_extent_ndims(space.get()) != 2) {
    HR_THROW(InputError, "{}: expected a 2-D dataset", describe(loc, name));
  }
  check_type_class<float>(dset.get(), loc, name);
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  *rows = static_cast<int64_t>(dims[0]);
  *cols = static_cast<int64_t>(dims[1]);
  if ((expected_rows >= 0 && *rows != expected_rows) ||
      (expected_cols >= 0 && *cols != expected_cols)) {
    HR_THROW(InputError, "{}: is {}x{}, expected {}x{}", describe(loc, name), *rows, *cols,
             expected_rows >= 0 ? fmt::to_string(expected_rows) : std::string("N"),
             expected_cols >= 0 ? fmt::to_string(expected_cols) : std::string("N"));
  }
  if (dims[1] != 0 && dims[0] > std::numeric_limits<uint64_t>::max() / dims[1]) {
    HR_THROW(InputError, "{}: {}x{} values overflow", describe(loc, name), dims[0], dims[1]);
  }
  check_stored(dset.get(), loc, name, dims[0] * dims[1]);
  auto out = buffer_for<std::vector<float>>(static_cast<size_t>(dims[0] * dims[1]), loc, name);
  if (!out.empty()) {
    H5_CHECK(H5Dread(dset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()),
             "cannot read {}", describe(loc, name));
  }
  return out;
}

namespace {
Handle string_type() {
  const LibraryLock lock;
  Handle t(H5_CHECK(H5Tcopy(H5T_C_S1), "string type"), H5Tclose);
  H5_CHECK(H5Tset_size(t.get(), H5T_VARIABLE), "string type");
  H5_CHECK(H5Tset_cset(t.get(), H5T_CSET_UTF8), "string type");
  return t;
}
}  // namespace

void write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& v) {
  const LibraryLock lock;
  hsize_t dim = v.size();
  Handle space(H5_CHECK(H5Screate_simple(1, &dim, nullptr), "dataspace"), H5Sclose);
  Handle type = string_type();
  Handle plist(H5_CHECK(H5Pcreate(H5P_DATASET_CREATE), "plist"), H5Pclose);
  H5_CHECK(H5Pset_obj_track_times(plist.get(), 0), "plist");
  if (dim > kChunk) {
    hsize_t chunk = kChunk;
    H5_CHECK(H5Pset_chunk(plist.get(), 1, &chunk), "chunking {}", describe(loc, name));
  }
  Handle dset(H5_CHECK(H5Dcreate2(loc, name.c_str(), type.get(), space.get(), H5P_DEFAULT,
                                  plist.get(), H5P_DEFAULT),
                       "cannot create {}", describe(loc, name)),
              H5Dclose);
  if (v.empty()) return;
  std::vector<const char*> ptrs(v.size());
  for (size_t i = 0; i < v.size(); ++i) ptrs[i] = v[i].c_str();
  H5_CHECK(H5Dwrite(dset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()),
           "cannot write {}", describe(loc, name));
}

void write_virtual(hid_t loc, const std::string& name, VirtualType type, int64_t cols,
                   const std::vector<VirtualPart>& parts) {
  const LibraryLock lock;
  int64_t rows = 0;
  for (const VirtualPart& p : parts) rows += p.rows;
  const int rank = cols > 0 ? 2 : 1;
  hsize_t dims[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(cols)};
  Handle space(H5_CHECK(H5Screate_simple(rank, dims, nullptr), "dataspace"), H5Sclose);
  Handle plist(H5_CHECK(H5Pcreate(H5P_DATASET_CREATE), "plist"), H5Pclose);
  H5_CHECK(H5Pset_obj_track_times(plist.get(), 0), "plist");
  Handle file_type = type == VirtualType::kString    ? string_type()
                     : type == VirtualType::kFloat16 ? half_type()
                                                     : Handle(H5_CHECK(H5Tcopy(H5T_IEEE_F32LE),
                                                                       "type"),
                                                              H5Tclose);
  hsize_t offset = 0;
  for (const VirtualPart& p : parts) {
    if (p.rows == 0) continue;
    hsize_t start[2] = {offset, 0};
    hsize_t count[2] = {static_cast<hsize_t>(p.rows), static_cast<hsize_t>(cols)};
    H5_CHECK(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr),
             "selection of {}", describe(loc, name));
    Handle src(H5_CHECK(H5Screate_simple(rank, count, nullptr), "dataspace"), H5Sclose);
    H5_CHECK(H5Pset_virtual(plist.get(), space.get(), p.file.c_str(), p.dataset.c_str(),
                            src.get()),
             "cannot map {}:{} into {}", p.file, p.dataset, describe(loc, name));
    offset += static_cast<hsize_t>(p.rows);
  }
  H5_CHECK(H5Sselect_all(space.get()), "selection of {}", describe(loc, name));
  Handle dset(H5_CHECK(H5Dcreate2(loc, name.c_str(), file_type.get(), space.get(), H5P_DEFAULT,
                                  plist.get(), H5P_DEFAULT),
                       "cannot create {}", describe(loc, name)),
              H5Dclose);
}

std::vector<std::string> virtual_files(hid_t loc, const std::string& name) {
  const LibraryLock lock;
  Handle dset = open_dataset(loc, name);
  Handle plist(H5_CHECK(H5Dget_create_plist(dset.get()), "plist of {}", describe(loc, name)),
               H5Pclose);
  std::vector<std::string> files;
  if (H5Pget_layout(plist.get()) != H5D_VIRTUAL) return files;
  size_t n = 0;
  H5_CHECK(H5Pget_virtual_count(plist.get(), &n), "mappings of {}", describe(loc, name));
  for (size_t k = 0; k < n; ++k) {
    const ssize_t len = H5Pget_virtual_filename(plist.get(), k, nullptr, 0);
    H5_CHECK(len, "mapping {} of {}", k, describe(loc, name));
    std::string f(static_cast<size_t>(len) + 1, '\0');
    H5Pget_virtual_filename(plist.get(), k, f.data(), f.size());
    f.resize(static_cast<size_t>(len));
    files.push_back(std::move(f));
  }
  return files;
}

std::vector<std::string> read_strings(hid_t loc, const std::string& name) {
  const LibraryLock lock;
  Handle dset = open_dataset(loc, name);
  const int64_t n = checked_size_1d(dset.get(), loc, name);
  std::vector<std::string> out;
  if (n == 0) return out;
  Handle file_type(H5_CHECK(H5Dget_type(dset.get()), "type"), H5Tclose);
  if (H5Tget_class(file_type.get()) != H5T_STRING || H5Tis_variable_str(file_type.get()) <= 0) {
    HR_THROW(InputError, "{}: expected variable-length strings", describe(loc, name));
  }
  Handle type = string_type();
  check_stored(dset.get(), loc, name, static_cast<uint64_t>(n));
  auto ptrs = buffer_for<std::vector<char*>>(static_cast<size_t>(n), loc, name);
  H5_CHECK(H5Dread(dset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()),
           "cannot read {}", describe(loc, name));
  try {
    out.reserve(ptrs.size());
    for (char* p : ptrs) out.emplace_back(p == nullptr ? "" : p);
  } catch (const std::bad_alloc&) {
    Handle space(H5_CHECK(H5Dget_space(dset.get()), "dataspace"), H5Sclose);
    H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, ptrs.data());
    HR_THROW(IoError, "{}: not enough memory to read its {} strings", describe(loc, name), n);
  }
  Handle space(H5_CHECK(H5Dget_space(dset.get()), "dataspace"), H5Sclose);
  H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, ptrs.data());
  return out;
}

std::vector<std::string> read_strings_at(hid_t loc, const std::string& name,
                                         const std::vector<int64_t>& rows) {
  const LibraryLock lock;
  Handle dset = open_dataset(loc, name);
  const int64_t n = checked_size_1d(dset.get(), loc, name);
  std::vector<std::string> out;
  if (rows.empty()) return out;
  for (size_t k = 0; k < rows.size(); ++k) {
    if (rows[k] < 0 || rows[k] >= n || (k > 0 && rows[k] <= rows[k - 1])) {
      HR_THROW(InputError, "{}: row {} is out of range or out of order ({} rows)",
               describe(loc, name), rows[k], n);
    }
  }
  Handle file_type(H5_CHECK(H5Dget_type(dset.get()), "type"), H5Tclose);
  if (H5Tget_class(file_type.get()) != H5T_STRING || H5Tis_variable_str(file_type.get()) <= 0) {
    HR_THROW(InputError, "{}: expected variable-length strings", describe(loc, name));
  }
  Handle type = string_type();
  Handle file_space(H5_CHECK(H5Dget_space(dset.get()), "dataspace"), H5Sclose);
  std::vector<hsize_t> coords(rows.begin(), rows.end());
  H5_CHECK(H5Sselect_elements(file_space.get(), H5S_SELECT_SET, coords.size(), coords.data()),
           "selection of {}", describe(loc, name));
  hsize_t count = rows.size();
  Handle mem_space(H5_CHECK(H5Screate_simple(1, &count, nullptr), "dataspace"), H5Sclose);
  std::vector<char*> ptrs(rows.size(), nullptr);
  H5_CHECK(H5Dread(dset.get(), type.get(), mem_space.get(), file_space.get(), H5P_DEFAULT,
                   ptrs.data()),
           "cannot read {}", describe(loc, name));
  out.reserve(ptrs.size());
  for (char* p : ptrs) out.emplace_back(p == nullptr ? "" : p);
  H5Dvlen_reclaim(type.get(), mem_space.get(), H5P_DEFAULT, ptrs.data());
  return out;
}

void set_attr(hid_t loc, const std::string& name, int64_t value) {
  const LibraryLock lock;
  replace_attr(loc, name);
  Handle space(H5_CHECK(H5Screate(H5S_SCALAR), "dataspace"), H5Sclose);
  Handle attr(H5_CHECK(H5Acreate2(loc, name.c_str(), H5T_NATIVE_INT64, space.get(), H5P_DEFAULT,
                                  H5P_DEFAULT),
                       "cannot create attribute '{}' on {}", name, describe(loc)),
              H5Aclose);
  H5_CHECK(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), "cannot write attribute '{}'", name);
}

void set_attr(hid_t loc, const std::string& name, double value) {
  const LibraryLock lock;
  replace_attr(loc, name);
  Handle space(H5_CHECK(H5Screate(H5S_SCALAR), "dataspace"), H5Sclose);
  Handle attr(H5_CHECK(H5Acreate2(loc, name.c_str(), H5T_NATIVE_DOUBLE, space.get(), H5P_DEFAULT,
                                  H5P_DEFAULT),
                       "cannot create attribute '{}' on {}", name, describe(loc)),
              H5Aclose);
  H5_CHECK(H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, &value), "cannot write attribute '{}'", name);
}

void set_attr(hid_t loc, const std::string& name, const std::string& value) {
  const LibraryLock lock;
  replace_attr(loc, name);
  Handle space(H5_CHECK(H5Screate(H5S_SCALAR), "dataspace"), H5Sclose);
  Handle type = string_type();
  Handle attr(H5_CHECK(H5Acreate2(loc, name.c_str(), type.get(), space.get(), H5P_DEFAULT,
                                  H5P_DEFAULT),
                       "cannot create attribute '{}' on {}", name, describe(loc)),
              H5Aclose);
  const char* p = value.c_str();
  H5_CHECK(H5Awrite(attr.get(), type.get(), &p), "cannot write attribute '{}'", name);
}

bool has_attr(hid_t loc, const std::string& name) {
  const LibraryLock lock;
  quiet_errors();
  return H5Aexists(loc, name.c_str()) > 0;
}

int64_t get_attr_int(hid_t loc, const std::string& name) {
  const LibraryLock lock;
  Handle attr = open_attr(loc, name);
  Handle type(H5_CHECK(H5Aget_type(attr.get()), "type"), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_INTEGER) {
    HR_THROW(InputError, "{}: attribute '{}' is not an integer", describe(loc), name);
  }
  int64_t v = 0;
  H5_CHECK(H5Aread(attr.get(), H5T_NATIVE_INT64, &v), "cannot read attribute '{}'", name);
  return v;
}

double get_attr_double(hid_t loc, const std::string& name) {
  const LibraryLock lock;
  Handle attr = open_attr(loc, name);
  Handle type(H5_CHECK(H5Aget_type(attr.get()), "type"), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
    HR_THROW(InputError, "{}: attribute '{}' is not a number", describe(loc), name);
  }
  double v = 0;
  H5_CHECK(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &v), "cannot read attribute '{}'", name);
  return v;
}

std::string get_attr_string(hid_t loc, const std::string& name) {
  const LibraryLock lock;
  Handle attr = open_attr(loc, name);
  Handle file_type(H5_CHECK(H5Aget_type(attr.get()), "type"), H5Tclose);
  if (H5Tget_class(file_type.get()) != H5T_STRING) {
    HR_THROW(InputError, "{}: attribute '{}' is not a string", describe(loc), name);
  }
  if (H5Tis_variable_str(file_type.get()) > 0) {
    Handle type = string_type();
    char* p = nullptr;
    H5_CHECK(H5Aread(attr.get(), type.get(), &p), "cannot read attribute '{}'", name);
    std::string s = p == nullptr ? "" : p;
    H5free_memory(p);
    return s;
  }
  const size_t size = H5Tget_size(file_type.get());
  std::string s(size, '\0');
  H5_CHECK(H5Aread(attr.get(), file_type.get(), s.data()), "cannot read attribute '{}'", name);
  s.resize(s.find('\0') == std::string::npos ? size : s.find('\0'));
  return s;
}

}  // namespace halorec::h5

#pragma once
// Typed reading and writing of HDF5 files: files, groups, 1-D arrays, string
// arrays and attributes. Missing files and objects are InputErrors that name
// the file and path; storage failures are IoErrors.

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "h5/handle.h"

namespace halorec::h5 {

// Creates a new file for writing: an InputError/IoError when anything (a
// file, a symlink) is at the path already (O_EXCL).
Handle create_file(const std::string& path);
// Opens an existing file read-only; `what` names it in errors ("dataset").
Handle open_file(const std::string& path, const std::string& what = "HDF5 file");
// Opens an existing file for changing it in place (callers stage a copy
// first: core/staged_path.h).
Handle open_file_for_update(const std::string& path, const std::string& what = "HDF5 file");
// Closes a file written through create_file (or open_file_for_update), reporting a failed final flush
// (disk full) as an IoError naming `path`. Call before committing the file.
void close_file(Handle& file, const std::string& path);
// The `format` attribute of an HDF5 file ("halorec.dataset", ...), or "" when
// the path is not a readable HDF5 file or has none. Never throws.
std::string file_format(const std::string& path);

// A kind of HaloRec file: its `format` attribute and format_version, its name
// in messages, and how a user makes one.
struct FileKind {
  const char* format;
  int64_t version;
  const char* name;     // "dataset", "model file", ...
  const char* made_by;  // "make one with 'halorec prepare'"
};
// The check every reader of a HaloRec file makes first: InputError naming
// `path` unless the open file `f` is of `kind`, at its version.
void check_file_kind(hid_t f, const std::string& path, const FileKind& kind);

Handle create_group(hid_t loc, const std::string& name);
Handle open_group(hid_t loc, const std::string& name);
bool exists(hid_t loc, const std::string& path);

template <typename T>
hid_t native_type();

struct WriteOptions {
  bool compress = true;  // shuffle + deflate for arrays larger than one chunk
};

template <typename T>
void write_array(hid_t loc, const std::string& name, const T* data, size_t n,
                 const WriteOptions& options = {});
template <typename T>
void write_array(hid_t loc, const std::string& name, const std::vector<T>& v,
                 const WriteOptions& options = {}) {
  write_array(loc, name, v.data(), v.size(), options);
}
// Number of elements of a 1-D dataset.
int64_t array_size(hid_t loc, const std::string& name);
// Reading checks the stored type class: integers into integer arrays, floats
// into float arrays (InputError naming the dataset otherwise), so that a file
// whose types were changed is refused rather than silently converted.
template <typename T>
std::vector<T> read_array(hid_t loc, const std::string& name);
// Elements [offset, offset + count) of a 1-D dataset.
template <typename T>
std::vector<T> read_slice(hid_t loc, const std::string& name, int64_t offset, int64_t count);

// A row-major matrix [rows, cols] as a 2-D dataset; `half` stores IEEE
// binary16 (read by h5py as float16) from float input.
void write_matrix(hid_t loc, const std::string& name, const float* data, int64_t rows,
                  int64_t cols, bool half = false);
// A 2-D dataset of floats read as float (converting float16/float64). An
// expected row or column count (>= 0) is checked before anything is read.
std::vector<float> read_matrix(hid_t loc, const std::string& name, int64_t* rows, int64_t* cols,
                               int64_t expected_rows = -1, int64_t expected_cols = -1);

// Rows and columns of a 2-D dataset, without reading it.
void matrix_shape(hid_t loc, const std::string& name, int64_t* rows, int64_t* cols);

// Variable-length UTF-8 strings, readable as str by h5py.
void write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& v);
std::vector<std::string> read_strings(hid_t loc, const std::string& name);
// Only the elements at `rows` (ascending), in that order.
std::vector<std::string> read_strings_at(hid_t loc, const std::string& name,
                                         const std::vector<int64_t>& rows);

// A virtual dataset (HDF5 VDS) joining same-named datasets of other files
// end to end along the first dimension: rows of part k follow those of part
// k - 1. The parts' `file` names are stored as given (relative names resolve
// against the virtual file's folder). `cols` 0: 1-D; else [rows, cols].
enum class VirtualType { kString, kFloat32, kFloat16 };
struct VirtualPart {
  std::string file;
  std::string dataset;
  int64_t rows = 0;
};
void write_virtual(hid_t loc, const std::string& name, VirtualType type, int64_t cols,
                   const std::vector<VirtualPart>& parts);
// The source files of a virtual dataset, as stored; empty for any other layout.
std::vector<std::string> virtual_files(hid_t loc, const std::string& name);

void set_attr(hid_t loc, const std::string& name, int64_t value);
void set_attr(hid_t loc, const std::string& name, double value);
void set_attr(hid_t loc, const std::string& name, const std::string& value);
inline void set_attr(hid_t loc, const std::string& name, const char* value) {
  set_attr(loc, name, std::string(value));
}
bool has_attr(hid_t loc, const std::string& name);
int64_t get_attr_int(hid_t loc, const std::string& name);
double get_attr_double(hid_t loc, const std::string& name);
std::string get_attr_string(hid_t loc, const std::string& name);

}  // namespace halorec::h5

#include "h5/handle.h"

#include <fmt/format.h>

#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/staged_path.h"
#include "h5/library_lock.h"

namespace halorec::h5 {

void Handle::reset() noexcept {
  const LibraryLock lock;
  if (id_ >= 0 && closer_ != nullptr && closer_(id_) < 0 && closer_ == H5Fclose) {
    // HDF5 keeps a file it could not flush (disk full) and crashes on it in
    // its exit handlers: the process must end without running them.
    mark_unclean_exit();
  }
  id_ = H5I_INVALID_HID;
}

void quiet_errors() {
  const LibraryLock lock;
  static const bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

namespace {
// One line per message: HDF5's low-level write errors carry a multi-line
// dump whose only useful part is the system's message.
std::string one_line(std::string desc) {
  const std::string key = "error message = '";
  const size_t at = desc.find(key);
  if (at != std::string::npos) {
    const size_t end = desc.find('\'', at + key.size());
    const std::string why = desc.substr(
        at + key.size(), end == std::string::npos ? std::string::npos : end - at - key.size());
    const size_t colon = desc.find(';');
    desc = (colon == std::string::npos ? std::string("write failed") : desc.substr(0, colon)) +
           ": " + why;
  }
  for (char& c : desc) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return desc;
}

herr_t collect(unsigned /*n*/, const H5E_error2_t* err, void* data) {
  auto* out = static_cast<std::vector<std::string>*>(data);
  if (err->desc != nullptr && err->desc[0] != '\0') out->push_back(one_line(err->desc));
  return 0;
}

// The name a user knows for a file being written: "out.h5" for the staged
// ".out.h5.tmp-XXXXXX/out.h5".
std::string user_visible(const std::string& path) { return visible_name(path); }
}  // namespace

std::string error_stack_message() {
  const LibraryLock lock;
  std::vector<std::string> descs;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect, &descs);
  H5Eclear2(H5E_DEFAULT);
  if (descs.empty()) return "no HDF5 message";
  if (descs.size() == 1) return "HDF5: " + descs.front();
  return fmt::format("HDF5: {}; {}", descs.front(), descs.back());
}

const char* base_name(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash == nullptr ? path : slash + 1;
}

std::string describe(hid_t loc, const std::string& name) {
  const LibraryLock lock;
  char file[1024] = {0};
  char path[1024] = {0};
  H5Fget_name(loc, file, sizeof file);
  H5Iget_name(loc, path, sizeof path);
  std::string p = path;
  if (!name.empty()) p = (p == "/" || p.empty()) ? "/" + name : p + "/" + name;
  return fmt::format("{}:{}", user_visible(file), p);
}

}  // namespace halorec::h5

#include "h5/handle.h"

#include <fmt/format.h>

#include <vector>

namespace halorec::h5 {

void Handle::reset() noexcept {
  if (id_ >= 0 && closer_ != nullptr) closer_(id_);
  id_ = H5I_INVALID_HID;
}

void quiet_errors() {
  static const bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

namespace {
herr_t collect(unsigned /*n*/, const H5E_error2_t* err, void* data) {
  auto* out = static_cast<std::vector<std::string>*>(data);
  if (err->desc != nullptr && err->desc[0] != '\0') out->emplace_back(err->desc);
  return 0;
}
}  // namespace

std::string error_stack_message() {
  std::vector<std::string> descs;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect, &descs);
  H5Eclear2(H5E_DEFAULT);
  if (descs.empty()) return "no HDF5 message";
  if (descs.size() == 1) return "HDF5: " + descs.front();
  return fmt::format("HDF5: {}; {}", descs.front(), descs.back());
}

std::string describe(hid_t loc, const std::string& name) {
  char file[1024] = {0};
  char path[1024] = {0};
  H5Fget_name(loc, file, sizeof file);
  H5Iget_name(loc, path, sizeof path);
  std::string p = path;
  if (!name.empty()) p = (p == "/" || p.empty()) ? "/" + name : p + "/" + name;
  return fmt::format("{}:{}", file, p);
}

}  // namespace halorec::h5

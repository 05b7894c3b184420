#pragma once
// RAII over HDF5 identifiers and the H5_CHECK macro. Destructors never throw.

#include <hdf5.h>

#include <string>

namespace halorec::h5 {

class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      closer_ = o.closer_;
      o.id_ = H5I_INVALID_HID;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() noexcept;

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// Turns off HDF5's own error printing (HaloRec reports errors itself).
void quiet_errors();
// The innermost messages of HDF5's current error stack, for error reports.
std::string error_stack_message();
// "file.h5:/group/name" for messages (a file being written under a
// temporary name is named by its final name).
std::string describe(hid_t loc, const std::string& name = "");
// "file.cc" of "/path/to/file.cc", for call sites in messages.
const char* base_name(const char* path);

}  // namespace halorec::h5

// Throws IoError naming what failed and HDF5's own message when expr < 0.
#define H5_CHECK(expr, ...)                                                                  \
  ([&]() {                                                                                   \
    auto h5_result_ = (expr);                                                                \
    if (h5_result_ < 0) {                                                                    \
      throw ::halorec::IoError(fmt::format("{} ({}) [{}:{}]", fmt::format(__VA_ARGS__),      \
                                           ::halorec::h5::error_stack_message(),             \
                                           ::halorec::h5::base_name(__FILE__), __LINE__));   \
    }                                                                                        \
    return h5_result_;                                                                       \
  }())

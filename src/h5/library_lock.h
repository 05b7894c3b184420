#pragma once
// HDF5 as built by Debian is not thread-safe (Threadsafety: no): one
// process-wide lock around every call into it, taken by each function of
// h5/ (recursive: they call each other). Uncontended in the commands, which
// touch HDF5 from one thread; it lets N ranks run as threads of one process
// (comm/thread_communicator.h) and read and write their files at once.

#include <mutex>

namespace halorec::h5 {

std::recursive_mutex& library_mutex();

class LibraryLock {
 public:
  LibraryLock() : lock_(library_mutex()) {}

 private:
  std::lock_guard<std::recursive_mutex> lock_;
};

}  // namespace halorec::h5

#include "h5/library_lock.h"

namespace halorec::h5 {

std::recursive_mutex& library_mutex() {
  static std::recursive_mutex m;
  return m;
}

}  // namespace halorec::h5

#pragma once
// SHA-256 over typed arrays, for dataset and partition fingerprints.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace halorec {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t bytes);
  void update(const std::string& s);
  void update_u64(uint64_t v);
  template <typename T>
  void update_vector(const std::vector<T>& v) {
    update_u64(v.size());
    if (!v.empty()) update(v.data(), v.size() * sizeof(T));
  }
  // Lower-case hex of the digest; the object is finished afterwards.
  std::string hex();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace halorec

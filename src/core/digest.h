#pragma once
// SHA-256 over typed arrays, for dataset and partition fingerprints; HMAC-SHA256
// for pseudonymized ids.

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

// HMAC-SHA256 of `message` under `key`, lower-case hex (64 characters).
std::string hmac_sha256_hex(const std::string& key, const std::string& message);

// A secret key from a file: its bytes, one trailing newline removed.
// InputError naming the file when it is not a readable regular file, holds
// under 16 bytes, or (as ssh does for private keys) is readable by its group
// or others, unless `allow_readable` (--allow-readable-key).
std::string read_key_file(const std::string& path, bool allow_readable = false);

}  // namespace halorec

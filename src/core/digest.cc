#include "core/digest.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fstream>
#include <iterator>

#include "core/check.h"

namespace halorec {

struct Sha256::Impl {
  EVP_MD_CTX* ctx = nullptr;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  HR_CHECK(impl_->ctx != nullptr, "EVP_MD_CTX_new failed");
  HR_CHECK(EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) == 1, "SHA-256 init failed");
}

Sha256::~Sha256() { EVP_MD_CTX_free(impl_->ctx); }

void Sha256::update(const void* data, size_t bytes) {
  HR_CHECK(EVP_DigestUpdate(impl_->ctx, data, bytes) == 1, "SHA-256 update failed");
}

void Sha256::update(const std::string& s) {
  update_u64(s.size());
  update(s.data(), s.size());
}

void Sha256::update_u64(uint64_t v) { update(&v, sizeof v); }

std::string Sha256::hex() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HR_CHECK(EVP_DigestFinal_ex(impl_->ctx, out, &n) == 1, "SHA-256 final failed");
  static const char* digits = "0123456789abcdef";
  std::string s;
  s.reserve(2 * n);
  for (unsigned int i = 0; i < n; ++i) {
    s.push_back(digits[out[i] >> 4]);
    s.push_back(digits[out[i] & 15]);
  }
  return s;
}

namespace {

std::string to_hex(const unsigned char* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t k = 0; k < n; ++k) {
    out[2 * k] = digits[p[k] >> 4];
    out[2 * k + 1] = digits[p[k] & 15];
  }
  return out;
}

}  // namespace

std::string hmac_sha256_hex(const std::string& key, const std::string& message) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const unsigned char* r =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &len);
  HR_CHECK(r != nullptr && len == 32, "HMAC-SHA256 failed");
  return to_hex(out, len);
}

std::string read_key_file(const std::string& path, bool allow_readable) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    HR_THROW(InputError, "key file '{}': {}", path, std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) HR_THROW(InputError, "key file '{}' is not a regular file", path);
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0 && !allow_readable) {
    HR_THROW(InputError, "key file '{}' is accessible by its group or others (mode {:04o}); "
             "protect it with: chmod 600 {}  (or give --allow-readable-key)", path,
             st.st_mode & 07777, path);
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) HR_THROW(InputError, "key file '{}': cannot be read", path);
  std::string key((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (!key.empty() && key.back() == '\n') key.pop_back();
  if (key.size() < 16) {
    HR_THROW(InputError, "key file '{}': {} bytes, a key needs at least 16 (make one with: "
             "head -c 32 /dev/urandom > {})", path, key.size(), path);
  }
  return key;
}

}  // namespace halorec

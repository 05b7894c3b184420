#include "core/digest.h"

#include <openssl/evp.h>

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

}  // namespace halorec

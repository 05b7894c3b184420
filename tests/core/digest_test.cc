#include "core/digest.h"

#include <gtest/gtest.h>

namespace halorec {
namespace {

TEST(Sha256, MatchesKnownVector) {
  Sha256 sha;
  const std::string abc = "abc";
  sha.update(abc.data(), abc.size());
  EXPECT_EQ(sha.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, VectorLengthIsPartOfTheDigest) {
  Sha256 a, b;
  a.update_vector(std::vector<int64_t>{1, 2});
  a.update_vector(std::vector<int64_t>{3});
  b.update_vector(std::vector<int64_t>{1});
  b.update_vector(std::vector<int64_t>{2, 3});
  EXPECT_NE(a.hex(), b.hex());
}

}  // namespace
}  // namespace halorec

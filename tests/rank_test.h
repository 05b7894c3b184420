#pragma once
// Multi-rank tests written once, run two ways: under mpirun (the file built
// into an MPI test binary, halorec_mpi_test) and as N ranks in threads of one
// process (built with HALOREC_RANK_THREADS into a `unit` binary,
// halorec_rank_test, over world sizes 2..5). A body reaches its rank's
// communicator through test_comm(); state a test keeps per rank must be
// per thread (thread_local), as each thread is a rank.
//
//   RANK_TEST(HaloExchange, Forward) { comm::Communicator& c = test_comm(); ... }

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "comm/communicator.h"

namespace halorec::testing {

inline thread_local comm::Communicator* current_comm = nullptr;

inline comm::Communicator& test_comm() {
  if (current_comm == nullptr) throw std::logic_error("test_comm() outside a rank test");
  return *current_comm;
}

// A new folder /tmp/PREFIX-XXXXXX every rank sees: made by rank 0, its name
// broadcast. Collective.
inline std::string shared_temp_dir(const std::string& prefix) {
  comm::Communicator& c = test_comm();
  std::string path(256, '\0');
  if (c.rank() == 0) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp " + tmpl);
    path = tmpl;
    path.resize(256, '\0');
  }
  at::Tensor bytes = at::from_blob(path.data(), {256}, at::kChar).clone();
  c.broadcast(bytes, 0);
  return std::string(static_cast<const char*>(bytes.data_ptr())).c_str();
}

// Removes a shared_temp_dir when the rank that made it ends (at exit under
// mpirun; when rank 0's thread ends after the test's last collective).
class SharedTempDir {
 public:
  explicit SharedTempDir(const std::string& prefix)
      : path_(shared_temp_dir(prefix)), owner_(test_comm().rank() == 0) {}
  ~SharedTempDir() {
    std::error_code ec;
    if (owner_) std::filesystem::remove_all(path_, ec);
  }
  SharedTempDir(const SharedTempDir&) = delete;
  SharedTempDir& operator=(const SharedTempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool owner_;
};

}  // namespace halorec::testing

#ifdef HALOREC_RANK_THREADS
#include "comm/thread_communicator.h"

// The world sizes (rank_test_main.cc instantiates it: 2, 3, 4, 5). A rank
// that fails or stops early ends the others' waits (run_ranks), within the
// timeout at worst.
class RankThreads : public ::testing::TestWithParam<int> {
 protected:
  void run(void (*body)()) const {
    halorec::comm::ThreadRanksOptions options;
    options.timeout = 60;
    halorec::comm::run_ranks(
        GetParam(),
        [body](halorec::comm::Communicator& c) {
          halorec::testing::current_comm = &c;
          body();
          halorec::testing::current_comm = nullptr;
        },
        options);
  }
};

#define RANK_TEST(suite, name)                                   \
  void suite##_##name##_body();                                  \
  TEST_P(RankThreads, suite##_##name) { run(suite##_##name##_body); } \
  void suite##_##name##_body()
#else
#include "mpi_test_support.h"

#define RANK_TEST(suite, name)                                            \
  void suite##_##name##_body();                                           \
  TEST(suite, name) {                                                     \
    ::halorec::testing::current_comm = &::halorec::testing::MpiWorld::comm(); \
    suite##_##name##_body();                                              \
  }                                                                       \
  void suite##_##name##_body()
#endif

#pragma once
// Support for tests under mpirun: the world communicator, and a printer that
// reports only failures (used on ranks other than 0).

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>

#include "comm/mpi_communicator.h"

namespace halorec::testing {

class MpiWorld {
 public:
  MpiWorld() { instance_ = std::make_unique<comm::MpiCommunicator>(); }
  ~MpiWorld() { instance_.reset(); }
  static comm::MpiCommunicator& comm() { return *instance_; }

 private:
  static inline std::unique_ptr<comm::MpiCommunicator> instance_;
};

class FailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.failed()) {
      std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_, r.file_name(),
                   r.line_number(), r.summary());
    }
  }

 private:
  int rank_;
};

}  // namespace halorec::testing

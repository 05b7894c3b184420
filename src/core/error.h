#pragma once
// The error hierarchy (docs/errors.md). What a user gave that is wrong (input,
// config, usage, a missing or unusable checkpoint) exits 2; everything else 1.

#include <stdexcept>
#include <string>

namespace halorec {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A bad input file or record; the message names the file and line.
class InputError : public Error {
 public:
  using Error::Error;
};

// A bad configuration key or value; the message names the key.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A bad command line.
class UsageError : public Error {
 public:
  using Error::Error;
};

// A failed communication between ranks.
class CommError : public Error {
 public:
  using Error::Error;
};

// A missing, incomplete or mismatching checkpoint.
class CheckpointError : public Error {
 public:
  using Error::Error;
};

// A failed storage operation (HDF5, filesystem) not caused by bad input.
class IoError : public Error {
 public:
  using Error::Error;
};

// A broken internal invariant: a bug in HaloRec.
class InternalError : public Error {
 public:
  using Error::Error;
};

// The process exit code for an exception: 2 for the user's mistakes, else 1.
int exit_code_for(const std::exception& e) noexcept;

}  // namespace halorec

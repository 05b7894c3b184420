#pragma once
// The error hierarchy and exit codes (docs/errors.md). What a user gave that is
// wrong (input, config, usage, a missing or unusable checkpoint) exits 2;
// storage, communication and internal failures exit 1.

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

// Exit codes of every halorec command (docs/errors.md).
namespace exit_code {
inline constexpr int kOk = 0;
inline constexpr int kFailure = 1;    // storage, communication or internal failure
inline constexpr int kUserError = 2;  // bad usage, config, input file or checkpoint
inline constexpr int kDiverged = 3;   // non-finite loss or gradient: nothing of it committed
// Stopped by SIGTERM/SIGUSR1 after committing a checkpoint: resume to go on
// (EX_TEMPFAIL of sysexits.h: "try again later").
inline constexpr int kStopped = 75;
}  // namespace exit_code

// The process exit code for an exception: 2 for the user's mistakes, else 1.
int exit_code_for(const std::exception& e) noexcept;

// After a failed write, HDF5's own exit handlers (atexit, MPI_Finalize) may
// crash on the file they could not close: such a process ends through
// exit_now, which skips them. mark_unclean_exit records the need.
void mark_unclean_exit() noexcept;
bool unclean_exit() noexcept;
// Flushes stdout and stderr and ends the process with `code` at once.
[[noreturn]] void exit_now(int code) noexcept;

}  // namespace halorec

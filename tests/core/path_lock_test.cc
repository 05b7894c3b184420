#include "core/path_lock.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/output_path.h"
#include "test_support.h"

namespace halorec {
namespace {

namespace fs = std::filesystem;

using testing::read_text;

// A child process that holds the lock on `target` until killed; returns its pid
// once it holds it.
pid_t hold_in_child(const std::string& target) {
  int ready[2];
  EXPECT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(ready[0]);
    try {
      PathLock lock({"--out", target});
      (void)!::write(ready[1], "y", 1);
      for (;;) ::pause();
    } catch (...) {
      ::_exit(3);
    }
  }
  ::close(ready[1]);
  char c = 0;
  EXPECT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  return pid;
}

TEST(PathLock, ASecondWriterIsRefusedNamingTheHolder) {
  testing::TempDir dir;
  const std::string target = dir.file("run");
  const pid_t holder = hold_in_child(target);
  try {
    PathLock second({"output.dir", target});
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("output.dir"), std::string::npos) << m;
    EXPECT_NE(m.find("pid " + std::to_string(holder)), std::string::npos) << m;
    EXPECT_NE(m.find(".run.lock"), std::string::npos) << m;
  }
  ::kill(holder, SIGKILL);
  ::waitpid(holder, nullptr, 0);
  // The holder died without releasing: its lock is taken over.
  EXPECT_TRUE(fs::exists(lock_file_for(target)));
  {
    PathLock taken({"output.dir", target});
    EXPECT_TRUE(taken.held());
    EXPECT_NE(read_text(lock_file_for(target)).find("pid " + std::to_string(::getpid())),
              std::string::npos);
  }
  EXPECT_FALSE(fs::exists(lock_file_for(target)));  // released: removed
}

TEST(PathLock, NestedInOneProcessAndReleasedByTheLast) {
  testing::TempDir dir;
  const std::string target = dir.file("parts");
  PathLock outer({"data.parts", target});
  {
    PathLock inner({"--out", target});
    EXPECT_TRUE(inner.held());
  }
  EXPECT_TRUE(fs::exists(lock_file_for(target)));
  outer.release();
  EXPECT_FALSE(fs::exists(lock_file_for(target)));
}

TEST(PathLock, ALinkAtTheLockFileIsRefused) {
  testing::TempDir dir;
  const std::string victim = dir.write("victim", "keep");
  fs::create_symlink(victim, lock_file_for(dir.file("m.h5")));
  EXPECT_THROW(PathLock lock({"--out", dir.file("m.h5")}), UsageError);
  EXPECT_EQ(read_text(victim), "keep");
}

TEST(PathLock, LockOutputNeedsTheFileOutputsFolder) {
  testing::TempDir dir;
  EXPECT_THROW(lock_output({"--out", dir.file("nope/m.h5")}, false), InputError);
  EXPECT_FALSE(fs::exists(dir.file("nope")));
  // A folder output's parents are made (as the folder itself will be).
  PathLock lock = lock_output({"output.dir", dir.file("runs/x")}, true);
  EXPECT_TRUE(fs::is_directory(dir.file("runs")));
  EXPECT_THROW(lock_output({"--out", dir.file(std::string(256, 'a'))}, false), UsageError);
}

}  // namespace
}  // namespace halorec

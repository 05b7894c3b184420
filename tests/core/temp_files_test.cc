#include "core/temp_files.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "test_support.h"

namespace halorec {
namespace {

namespace fs = std::filesystem;

TEST(TempPath, RemovedUnlessReleased) {
  testing::TempDir dir;
  {
    TempPath t(dir.file("a.tmp"));
    std::ofstream(t.path()) << "x";
  }
  EXPECT_FALSE(fs::exists(dir.file("a.tmp")));
  {
    TempPath t(dir.file("b"));
    std::ofstream(t.path()) << "x";
    t.release();
  }
  EXPECT_TRUE(fs::exists(dir.file("b")));
}

// A child process with live temporaries (a file and a folder tree) ends by
// SIGTERM: the handler removes them all, and the child dies by that signal.
TEST(TempPath, SignalHandlersRemoveLiveTemporaries) {
  testing::TempDir dir;
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    install_temp_cleanup();
    TempPath file(dir.file("out.h5.tmp"));
    std::ofstream(file.path()) << "half";
    TempPath folder(dir.file("parts.tmp"));
    fs::create_directories(folder.path() + "/sub");
    for (int k = 0; k < 300; ++k) std::ofstream(folder.path() + "/f" + std::to_string(k)) << k;
    std::ofstream(folder.path() + "/sub/deep") << "x";
    std::ofstream(dir.file("ready")) << "1";
    pause();
    _exit(0);
  }
  while (!fs::exists(dir.file("ready"))) usleep(1000);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_FALSE(fs::exists(dir.file("out.h5.tmp")));
  EXPECT_FALSE(fs::exists(dir.file("parts.tmp")));
  EXPECT_TRUE(fs::exists(dir.file("ready")));
}

}  // namespace
}  // namespace halorec

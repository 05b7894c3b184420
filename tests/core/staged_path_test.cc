#include "core/staged_path.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/output_path.h"
#include "test_support.h"

namespace halorec {
namespace {

namespace fs = std::filesystem;

std::string read(const std::string& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST(StagedPath, CommitReplacesTargetAtomically) {
  testing::TempDir dir;
  const std::string target = dir.write("out.txt", "old");
  {
    StagedPath staged(target);
    std::ofstream(staged.temp()) << "new";
    EXPECT_EQ(read(target), "old");  // not visible before commit
    staged.commit();
  }
  EXPECT_EQ(read(target), "new");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator{}), 1);
}

TEST(StagedPath, WithoutCommitTheTargetSurvivesAndTheTemporaryIsRemoved) {
  testing::TempDir dir;
  const std::string target = dir.write("out.txt", "old");
  std::string temp;
  {
    StagedPath staged(target);
    temp = staged.temp();
    std::ofstream(temp) << "half";
  }
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_EQ(read(target), "old");
}

TEST(StagedPath, MissingFolderIsAnInputErrorNamingIt) {
  try {
    StagedPath staged("/nonexistent-folder-xyz/out.h5");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-folder-xyz"), std::string::npos);
  }
}

TEST(StagedPath, HaloRecFoldersAreReplacedWhole) {
  testing::TempDir dir;
  make_marked_folder(dir.file("parts"), "partition", "--out");
  dir.write("parts/stale", "x");
  StagedPath staged(dir.file("parts"));
  make_marked_folder(staged.temp(), "partition", "--out");
  std::ofstream(staged.temp() + "/fresh") << "y";
  staged.commit();
  EXPECT_TRUE(fs::exists(dir.file("parts/fresh")));
  EXPECT_FALSE(fs::exists(dir.file("parts/stale")));
  // Nothing left beside it: no temporary, no moved-aside old folder.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator{}), 1);
}

TEST(StagedPath, NeverReplacesAUsersFolder) {
  testing::TempDir dir;
  fs::create_directory(dir.file("mine"));
  dir.write("mine/thesis.tex", "years of work");
  {
    StagedPath staged(dir.file("mine"));
    fs::create_directory(staged.temp());
    EXPECT_THROW(staged.commit(), InternalError);
  }
  {
    StagedPath staged(dir.file("mine"));
    std::ofstream(staged.temp()) << "a file";
    EXPECT_THROW(staged.commit(), InternalError);
  }
  EXPECT_EQ(read(dir.file("mine/thesis.tex")), "years of work");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator{}), 1);
}

TEST(StagedPath, FolderReferencesAreRefused) {
  for (const char* target : {".", "..", "/", "x/.."}) {
    EXPECT_THROW(StagedPath staged(target), UsageError) << target;
  }
}

}  // namespace
}  // namespace halorec

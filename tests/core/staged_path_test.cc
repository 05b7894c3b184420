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

using testing::read_text;

TEST(StagedPath, CommitReplacesTargetAtomically) {
  testing::TempDir dir;
  const std::string target = dir.write("out.txt", "old");
  {
    StagedPath staged(target);
    std::ofstream(staged.temp()) << "new";
    EXPECT_EQ(read_text(target), "old");  // not visible before commit
    staged.commit();
  }
  EXPECT_EQ(read_text(target), "new");
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
  EXPECT_EQ(read_text(target), "old");
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
  EXPECT_EQ(read_text(dir.file("mine/thesis.tex")), "years of work");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator{}), 1);
}

TEST(StagedPath, TheTemporaryIsInANewPrivateFolderNeverThroughALink) {
  testing::TempDir dir;
  const std::string input = dir.write("input.tsv", "the user's input");
  // Where an older HaloRec wrote its temporary: a planted link there is not used.
  fs::create_symlink(input, dir.file(".out.h5.tmp." + std::to_string(::getpid())));
  std::string first, second;
  {
    StagedPath a(dir.file("out.h5"));
    StagedPath b(dir.file("out.h5"));
    first = a.temp();
    second = b.temp();
    const fs::path folder = fs::path(first).parent_path();
    EXPECT_EQ(fs::path(first).filename(), "out.h5");
    EXPECT_EQ(folder.filename().string().rfind(".out.h5.tmp-", 0), 0u) << folder;
    EXPECT_NE(first, second);  // unpredictable: a new name each time
    EXPECT_EQ(fs::status(folder).permissions() & fs::perms::all, fs::perms::owner_all);
    EXPECT_FALSE(fs::exists(fs::symlink_status(first)));
    std::ofstream(a.temp()) << "new";
    a.commit();
  }
  EXPECT_EQ(read_text(input), "the user's input");
  EXPECT_EQ(read_text(dir.file("out.h5")), "new");
  EXPECT_FALSE(fs::exists(fs::path(first).parent_path()));
  EXPECT_FALSE(fs::exists(fs::path(second).parent_path()));
}

TEST(StagedPath, LongNamesFitTheirPrivateFolder) {
  testing::TempDir dir;
  const std::string name = std::string(250, 'a') + ".h5";
  StagedPath staged(dir.file(name));
  std::ofstream(staged.temp()) << "x";
  staged.commit();
  EXPECT_EQ(read_text(dir.file(name)), "x");
}

TEST(StagedPath, VisibleNames) {
  EXPECT_EQ(visible_name("d/.out.h5.tmp-Ab12Cd/out.h5"), "d/out.h5");
  EXPECT_EQ(visible_name("d/out.h5"), "d/out.h5");
  EXPECT_EQ(visible_name("d/.x.tmp-Ab12Cd/other.h5"), "d/.x.tmp-Ab12Cd/other.h5");
}

TEST(StagedPath, RandomHexIsNewEachTime) {
  const std::string a = random_hex(8), b = random_hex(8);
  EXPECT_EQ(a.size(), 16u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
}

TEST(StagedPath, FolderReferencesAreRefused) {
  for (const char* target : {".", "..", "/", "x/.."}) {
    EXPECT_THROW(StagedPath staged(target), UsageError) << target;
  }
}

}  // namespace
}  // namespace halorec

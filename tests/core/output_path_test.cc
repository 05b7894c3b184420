#include "core/output_path.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "test_support.h"

namespace halorec {
namespace {

namespace fs = std::filesystem;

const OwnFileProbe kOwn = [](const std::string& p) {
  std::ifstream f(p);
  std::string first;
  std::getline(f, first);
  return first == "halorec";
};

// The message of the UsageError `f` throws ("" when it throws none).
template <typename F>
std::string refusal(F f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(OutputRule, AFileOutputIsNeverAFolder) {
  testing::TempDir dir;
  fs::create_directory(dir.file("folder"));
  const std::string m = refusal([&] {
    check_output_file({"--out", dir.file("folder")}, {}, kOwn);
  });
  EXPECT_NE(m.find("--out"), std::string::npos) << m;
  EXPECT_NE(m.find("existing folder"), std::string::npos) << m;
  EXPECT_FALSE(refusal([&] { check_output_file({"--out", "."}, {}, kOwn); }).empty());
}

TEST(OutputRule, AFileOutputIsNeverAnInputEvenThroughALinkOrDots) {
  testing::TempDir dir;
  const std::string in = dir.write("log.csv", "u,i\n");
  fs::create_symlink(in, dir.file("link.csv"));
  for (const std::string& out : {in, dir.file("link.csv"), dir.path() + "/./sub/../log.csv"}) {
    const std::string m = refusal([&] {
      check_output_file({"--out", out}, {{"--train", in}}, kOwn);
    });
    EXPECT_NE(m.find("--train"), std::string::npos) << out << ": " << m;
  }
}

TEST(OutputRule, NotInsideAnInputFolderOrACheckpointOrPartition) {
  testing::TempDir dir;
  fs::create_directories(dir.file("ck/step-0000000004"));
  dir.write("ck/step-0000000004/COMMITTED", "{}");
  EXPECT_FALSE(refusal([&] {
                 check_output_file({"--out", dir.file("ck/step-0000000004/model.h5")}, {}, kOwn);
               }).empty());
  EXPECT_FALSE(refusal([&] {
                 check_output_file({"--out", dir.file("ck/model.h5")},
                                   {{"--checkpoint", dir.file("ck")}}, kOwn);
               }).empty());
  make_marked_folder(dir.file("parts"), "partition", "--out");
  EXPECT_FALSE(refusal([&] {
                 check_output_file({"--out", dir.file("parts/x.h5")}, {}, kOwn);
               }).empty());
  // Beside them is fine.
  EXPECT_TRUE(refusal([&] {
                check_output_file({"--out", dir.file("model.h5")},
                                  {{"--checkpoint", dir.file("ck")}}, kOwn);
              }).empty());
}

TEST(OutputRule, AnExistingFileIsReplacedOnlyWhenItIsHaloRecsOwn) {
  testing::TempDir dir;
  const std::string own = dir.write("own.h5", "halorec\n");
  const std::string users = dir.write("users.h5", "precious\n");
  EXPECT_TRUE(refusal([&] { check_output_file({"--out", own}, {}, kOwn); }).empty());
  EXPECT_FALSE(refusal([&] { check_output_file({"--out", users}, {}, kOwn); }).empty());
  EXPECT_FALSE(refusal([&] { check_output_file({"--out", users}, {}, kOwn, true); }).empty());
  // Text outputs carry no mark: replaced only with --force.
  EXPECT_FALSE(refusal([&] { check_output_file({"--out", users}, {}, nullptr); }).empty());
  EXPECT_TRUE(refusal([&] { check_output_file({"--out", users}, {}, nullptr, true); }).empty());
}

TEST(OutputRule, AUsersFolderIsNeverTakenEvenWithForce) {
  testing::TempDir dir;
  fs::create_directory(dir.file("photos"));
  dir.write("photos/a.jpg", "x");
  for (bool force : {false, true}) {
    const std::string m = refusal([&] {
      check_output_folder({"--out", dir.file("photos")}, "partition", {}, force);
    });
    EXPECT_NE(m.find("not a HaloRec partition folder"), std::string::npos) << m;
  }
  // New and empty folders are fine; HaloRec's own needs --force unless reused.
  EXPECT_FALSE(check_output_folder({"--out", dir.file("new")}, "partition", {}, false));
  fs::create_directory(dir.file("empty"));
  EXPECT_FALSE(check_output_folder({"--out", dir.file("empty")}, "partition", {}, false));
  make_marked_folder(dir.file("parts"), "partition", "--out");
  EXPECT_FALSE(refusal([&] {
                 check_output_folder({"--out", dir.file("parts")}, "partition", {}, false);
               }).empty());
  EXPECT_TRUE(check_output_folder({"--out", dir.file("parts")}, "partition", {}, true));
  make_marked_folder(dir.file("run"), "run", "output.dir");
  EXPECT_TRUE(check_output_folder({"output.dir", dir.file("run")}, "run", {}, false, true));
  EXPECT_FALSE(refusal([&] {
                 check_output_folder({"--out", dir.file("run")}, "partition", {}, true);
               }).empty());
}

TEST(OutputRule, AReplacedFolderNeverHoldsAnInput) {
  testing::TempDir dir;
  make_marked_folder(dir.file("parts"), "partition", "--out");
  const std::string data = dir.write("parts/dataset.h5", "halorec\n");
  EXPECT_FALSE(
      refusal([&] {
        check_output_folder({"--out", dir.file("parts")}, "partition", {{"--dataset", data}}, true);
      }).empty());
}

TEST(OutputRule, FolderKindsWithoutMarkersFromTheirFiles) {
  testing::TempDir dir;
  fs::create_directories(dir.file("run/checkpoints/step-0000000010"));
  dir.write("run/config.yaml", "");
  dir.write("run/metrics.jsonl", "");
  dir.write("run/checkpoints/step-0000000010/COMMITTED", "");
  EXPECT_EQ(folder_kind(dir.file("run")), "run");
  EXPECT_EQ(folder_kind(dir.file("run/checkpoints")), "checkpoints");
  EXPECT_EQ(folder_kind(dir.file("run/checkpoints/step-0000000010")), "checkpoint");
  EXPECT_EQ(folder_kind(dir.path()), "");
  EXPECT_EQ(folder_kind(dir.file("missing")), "");
}

TEST(OutputRule, MarkingAFileOrMissingParentIsAUsageError) {
  testing::TempDir dir;
  const std::string file = dir.write("file", "x");
  EXPECT_THROW(make_marked_folder(file, "run", "output.dir"), UsageError);
  EXPECT_THROW(make_marked_folder(file + "/sub", "run", "output.dir"), UsageError);
  make_marked_folder(dir.file("a/b"), "run", "output.dir");
  EXPECT_EQ(folder_kind(dir.file("a/b")), "run");
}

}  // namespace
}  // namespace halorec

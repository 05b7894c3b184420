#include "h5/file.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "test_support.h"

namespace halorec::h5 {
namespace {

TEST(H5File, ArraysStringsAndAttributesRoundTrip) {
  testing::TempDir dir;
  const std::string path = dir.file("a.h5");
  std::vector<int64_t> big(300000);
  for (size_t k = 0; k < big.size(); ++k) big[k] = static_cast<int64_t>(k * 7);
  {
    Handle f = create_file(path);
    Handle g = create_group(f.get(), "g");
    write_array(g.get(), "big", big);  // chunked and compressed
    write_array(g.get(), "f", std::vector<float>{1.5f, -2.0f});
    write_array(g.get(), "empty", std::vector<double>{});
    write_strings(f.get(), "names", {"alice", "", "b\xc3\xb6" "b"});
    set_attr(f.get(), "n", int64_t{42});
    set_attr(f.get(), "x", 0.25);
    set_attr(f.get(), "s", "hello");
    set_attr(f.get(), "s", "replaced");
  }
  Handle f = open_file(path);
  EXPECT_EQ(read_array<int64_t>(f.get(), "g/big"), big);
  EXPECT_EQ(read_slice<int64_t>(f.get(), "g/big", 1000, 3),
            (std::vector<int64_t>{7000, 7007, 7014}));
  EXPECT_EQ(read_array<float>(f.get(), "g/f"), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_TRUE(read_array<double>(f.get(), "g/empty").empty());
  EXPECT_EQ(read_strings(f.get(), "names"),
            (std::vector<std::string>{"alice", "", "b\xc3\xb6" "b"}));
  EXPECT_EQ(get_attr_int(f.get(), "n"), 42);
  EXPECT_DOUBLE_EQ(get_attr_double(f.get(), "x"), 0.25);
  EXPECT_EQ(get_attr_string(f.get(), "s"), "replaced");
  EXPECT_EQ(array_size(f.get(), "g/big"), 300000);
  EXPECT_TRUE(exists(f.get(), "g/f"));
  EXPECT_FALSE(exists(f.get(), "g/nope"));
  EXPECT_FALSE(exists(f.get(), "nogroup/x"));
}

TEST(H5File, MissingThingsAreInputErrorsNamingFileAndPath) {
  testing::TempDir dir;
  const std::string path = dir.file("a.h5");
  { Handle f = create_file(path); }
  Handle f = open_file(path);
  try {
    read_array<int64_t>(f.get(), "train/user");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("a.h5:/train/user"), std::string::npos) << e.what();
  }
  EXPECT_THROW(get_attr_int(f.get(), "nope"), InputError);
  EXPECT_THROW(read_slice<int64_t>(f.get(), "x", 0, 1), InputError);
}

TEST(H5File, MissingAndCorruptFilesAreInputErrors) {
  testing::TempDir dir;
  EXPECT_THROW(open_file(dir.file("none.h5")), InputError);
  const std::string junk = dir.write("junk.h5", "this is not hdf5");
  try {
    open_file(junk, "dataset");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("junk.h5"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("not a readable HDF5 file"), std::string::npos);
  }
}

TEST(H5File, WrongTypesAreReported) {
  testing::TempDir dir;
  const std::string path = dir.file("a.h5");
  {
    Handle f = create_file(path);
    set_attr(f.get(), "s", "text");
    write_array(f.get(), "ints", std::vector<int64_t>{1});
  }
  Handle f = open_file(path);
  EXPECT_THROW(get_attr_int(f.get(), "s"), InputError);
  EXPECT_THROW(read_strings(f.get(), "ints"), InputError);
}

}  // namespace
}  // namespace halorec::h5

#pragma once
// Streams a text file line by line (never the whole file in memory), with
// 1-based line numbers for error messages. "-" reads standard input.

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

namespace halorec::data {

class LineReader {
 public:
  // Throws InputError when the file cannot be opened.
  explicit LineReader(std::string path);
  // The next line without its line ending ("\n" or "\r\n") and, on line 1,
  // without a UTF-8 byte order mark; false at the end.
  bool next(std::string_view* line);
  int64_t line_number() const { return line_number_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::unique_ptr<std::ifstream> file_;
  std::istream* in_ = nullptr;
  std::unique_ptr<char[]> buffer_;
  std::string line_;
  int64_t line_number_ = 0;
};

// Where a record came from, for messages: "file:line".
struct Location {
  const std::string* path;
  int64_t line;
};

}  // namespace halorec::data

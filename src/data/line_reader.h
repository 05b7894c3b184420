#pragma once
// Streams a text file line by line (never the whole file in memory), with
// 1-based line numbers for error messages. "-" reads standard input. Lines
// end at "\n", "\r\n" or a lone "\r" (old Mac and some spreadsheet exports);
// a line longer than kMaxLineBytes is an InputError naming the file and line
// (so that /dev/zero or a binary file cannot take all memory).

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

namespace halorec {
class Progress;
}

namespace halorec::data {

class LineReader {
 public:
  static constexpr size_t kMaxLineBytes = size_t{256} << 20;

  // Throws InputError when the file cannot be opened.
  // A file of a megabyte or more logs its progress on stderr (core/progress.h)
  // when reading it takes longer than a few seconds.
  explicit LineReader(std::string path, size_t max_line_bytes = kMaxLineBytes);
  ~LineReader();
  // The next line without its line ending and, on line 1, without a UTF-8
  // byte order mark; false at the end.
  bool next(std::string_view* line);
  int64_t line_number() const { return line_number_; }
  const std::string& path() const { return path_; }

 private:
  bool fill();  // more bytes into the buffer; false at the end of the input

  std::string path_;
  size_t max_line_;
  std::unique_ptr<std::ifstream> file_;
  std::istream* in_ = nullptr;
  std::unique_ptr<char[]> buffer_;
  size_t begin_ = 0, end_ = 0;  // unread bytes of buffer_
  bool skip_lf_ = false;        // the last line ended in '\r': a '\n' next belongs to it
  std::string line_;
  int64_t line_number_ = 0;
  int64_t bytes_read_ = 0;
  std::unique_ptr<Progress> progress_;
};

// Where a record came from, for messages: "file:line".
struct Location {
  const std::string* path;
  int64_t line;
};

}  // namespace halorec::data

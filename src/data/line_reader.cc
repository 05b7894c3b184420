#include "data/line_reader.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "core/check.h"

namespace halorec::data {

namespace {
constexpr size_t kBufferBytes = 1 << 20;
}

LineReader::LineReader(std::string path) : path_(std::move(path)) {
  if (path_ == "-") {
    in_ = &std::cin;
    return;
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path_, ec)) {
    HR_THROW(InputError, "'{}' is a folder, expected a file", path_);
  }
  file_ = std::make_unique<std::ifstream>();
  buffer_ = std::make_unique<char[]>(kBufferBytes);
  file_->rdbuf()->pubsetbuf(buffer_.get(), kBufferBytes);
  file_->open(path_, std::ios::in | std::ios::binary);
  if (!file_->is_open()) {
    HR_THROW(InputError, "cannot open '{}': {}", path_, std::strerror(errno));
  }
  in_ = file_.get();
}

bool LineReader::next(std::string_view* line) {
  if (!std::getline(*in_, line_)) {
    if (in_->bad()) HR_THROW(IoError, "error reading '{}' after line {}", path_, line_number_);
    return false;
  }
  ++line_number_;
  size_t n = line_.size();
  if (n > 0 && line_[n - 1] == '\r') --n;
  // A UTF-8 byte order mark (spreadsheet exports) is not part of the first field.
  size_t start = 0;
  if (line_number_ == 1 && n >= 3 && line_.compare(0, 3, "\xEF\xBB\xBF") == 0) start = 3;
  *line = std::string_view(line_.data() + start, n - start);
  return true;
}

}  // namespace halorec::data

#include "data/line_reader.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "core/check.h"
#include "core/progress.h"

namespace halorec::data {

namespace {
constexpr size_t kBufferBytes = 1 << 20;
}

LineReader::LineReader(std::string path, size_t max_line_bytes)
    : path_(std::move(path)), max_line_(max_line_bytes) {
  buffer_ = std::make_unique<char[]>(kBufferBytes);
  if (path_ == "-") {
    in_ = &std::cin;
    return;
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path_, ec)) {
    HR_THROW(InputError, "'{}' is a folder, expected a file", path_);
  }
  file_ = std::make_unique<std::ifstream>();
  file_->open(path_, std::ios::in | std::ios::binary);
  if (!file_->is_open()) {
    HR_THROW(InputError, "cannot open '{}': {}", path_, std::strerror(errno));
  }
  in_ = file_.get();
  const auto bytes = std::filesystem::file_size(path_, ec);
  if (!ec && std::filesystem::is_regular_file(path_, ec)) {
    const int64_t mib = static_cast<int64_t>(bytes >> 20);
    if (mib >= 1) {
      progress_ = std::make_unique<Progress>(
          fmt::format("reading {}", std::filesystem::path(path_).filename().string()), "MiB",
          mib);
    }
  }
}

LineReader::~LineReader() = default;

bool LineReader::fill() {
  if (file_ == nullptr) {
    // Standard input: up to the next line end only, so that a line typed or
    // piped in is answered before more arrive.
    std::streambuf* sb = in_->rdbuf();
    size_t n = 0;
    while (n < kBufferBytes) {
      const int c = sb->sbumpc();
      if (c == std::char_traits<char>::eof()) break;
      buffer_[n++] = static_cast<char>(c);
      if (c == '\n' || c == '\r') break;
    }
    begin_ = 0;
    end_ = n;
    return n > 0;
  }
  if (in_->eof()) return false;
  in_->read(buffer_.get(), static_cast<std::streamsize>(kBufferBytes));
  if (in_->bad()) HR_THROW(IoError, "error reading '{}' after line {}", path_, line_number_);
  begin_ = 0;
  end_ = static_cast<size_t>(in_->gcount());
  bytes_read_ += static_cast<int64_t>(end_);
  if (progress_) progress_->at(bytes_read_ >> 20);
  return end_ > 0;
}

bool LineReader::next(std::string_view* line) {
  line_.clear();
  bool ended = false;  // found this line's end
  bool got = false;    // read a byte of it
  while (!ended) {
    if (begin_ == end_ && !fill()) break;
    if (skip_lf_) {
      skip_lf_ = false;
      if (buffer_[begin_] == '\n') {
        ++begin_;
        continue;
      }
    }
    const char* start = buffer_.get() + begin_;
    const char* stop = buffer_.get() + end_;
    const char* p = start;
    while (p < stop && *p != '\n' && *p != '\r') ++p;
    if (line_.size() + static_cast<size_t>(p - start) > max_line_) {
      HR_THROW(InputError, "{}:{}: line longer than {} MiB (not a text file?)", path_,
               line_number_ + 1, max_line_ >> 20);
    }
    line_.append(start, p);
    got = got || p > start;
    if (p < stop) {
      skip_lf_ = *p == '\r';
      begin_ = static_cast<size_t>(p - buffer_.get()) + 1;
      ended = true;
    } else {
      begin_ = end_;
    }
  }
  if (!ended && !got) return false;  // the end, nothing pending
  ++line_number_;
  // A UTF-8 byte order mark (spreadsheet exports) is not part of the first field.
  size_t start = 0;
  if (line_number_ == 1 && line_.size() >= 3 && line_.compare(0, 3, "\xEF\xBB\xBF") == 0) {
    start = 3;
  }
  *line = std::string_view(line_.data() + start, line_.size() - start);
  return true;
}

}  // namespace halorec::data

#include "data/delimited_reader.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "core/check.h"
#include "core/quote.h"
#include "data/line_reader.h"
#include "data/timestamp.h"

namespace halorec::data {

char parse_separator(const std::string& value) {
  if (value == "tab" || value == "\\t" || value == "\t") return '\t';
  if (value == "comma") return ',';
  if (value == "space") return ' ';
  if (value == "semicolon") return ';';
  if (value == "pipe") return '|';
  if (value.size() == 1 && value[0] != '"' && value[0] != '\n' && value[0] != '\r') {
    return value[0];
  }
  HR_THROW(UsageError,
           "--sep '{}': expected one character or tab, comma, space, semicolon, pipe", value);
}

bool split_fields(std::string_view line, char sep, std::vector<std::string_view>* fields,
                  std::vector<std::string>* storage, std::string* error) {
  fields->clear();
  if (line.find('"') == std::string_view::npos) {
    size_t start = 0;
    while (true) {
      const size_t pos = line.find(sep, start);
      if (pos == std::string_view::npos) {
        fields->push_back(line.substr(start));
        return true;
      }
      fields->push_back(line.substr(start, pos - start));
      start = pos + 1;
    }
  }
  // Slow path with quotes: unescape into storage, then point views at it.
  storage->clear();
  std::vector<bool> quoted;
  size_t k = 0;
  while (true) {
    std::string field;
    bool was_quoted = false;
    if (k < line.size() && line[k] == '"') {
      was_quoted = true;
      ++k;
      bool closed = false;
      while (k < line.size()) {
        if (line[k] == '"') {
          if (k + 1 < line.size() && line[k + 1] == '"') {
            field.push_back('"');
            k += 2;
            continue;
          }
          closed = true;
          ++k;
          break;
        }
        field.push_back(line[k++]);
      }
      if (!closed) {
        *error = "unterminated quoted field";
        return false;
      }
      if (k < line.size() && line[k] != sep) {
        *error = fmt::format("unexpected character '{}' after a quoted field",
                             quote(std::string_view(&line[k], 1)));
        return false;
      }
    } else {
      while (k < line.size() && line[k] != sep) field.push_back(line[k++]);
    }
    storage->push_back(std::move(field));
    quoted.push_back(was_quoted);
    if (k >= line.size()) break;
    ++k;  // separator
    if (k == line.size()) {
      storage->emplace_back();
      break;
    }
  }
  for (const std::string& f : *storage) fields->push_back(f);
  return true;
}

namespace {

struct Column {
  const char* option;
  std::optional<std::string> spec;
  int index = -1;
};

void resolve_column(Column* c, const std::vector<std::string>* header, const std::string& path) {
  if (!c->spec) return;
  const std::string& spec = *c->spec;
  if (header != nullptr) {
    for (size_t k = 0; k < header->size(); ++k) {
      if ((*header)[k] == spec) {
        c->index = static_cast<int>(k);
        return;
      }
    }
  }
  int64_t idx = 0;
  if (parse_int64(spec, &idx) && idx >= 0 && idx < (1 << 20)) {
    c->index = static_cast<int>(idx);
    return;
  }
  if (header == nullptr) {
    HR_THROW(InputError,
             "{}: {} '{}' is a column name, but the file is read without a header (give "
             "--header, or a 0-based column index)",
             path, c->option, quote(spec));
  }
  std::string names;
  for (const auto& h : *header) names += (names.empty() ? "" : ", ") + h;
  HR_THROW(InputError, "{}:1: {} '{}' is not a column of the header (columns: {})", path,
           c->option, quote(spec), quote(names));
}

std::string trim(std::string_view s) {
  size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t')) --b;
  return std::string(s.substr(a, b - a));
}

bool parse_double(std::string_view s, double* out) {
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, *out);
  return ec == std::errc() && ptr == end && std::isfinite(*out);
}

}  // namespace

void read_delimited(const std::string& path, const DelimitedFormat& format, ReadContext* ctx) {
  LineReader reader(path);
  ReadStats& stats = ctx->stats();
  Column user{"--user-col", format.user_col};
  Column item{"--item-col", format.item_col};
  Column rating{"--rating-col", format.rating_col};
  Column time{"--time-col", format.time_col};
  Column behavior{"--behavior-col", format.behavior_col};
  Column weight{"--weight-col", format.weight_col};
  Column* columns[] = {&user, &item, &rating, &time, &behavior, &weight};

  std::string_view line;
  std::vector<std::string_view> fields;
  std::vector<std::string> storage;
  std::string error;
  if (format.header) {
    if (!reader.next(&line)) HR_THROW(InputError, "{}: the file is empty, expected a header", path);
    ++stats.lines;
    if (!split_fields(line, format.sep, &fields, &storage, &error)) {
      HR_THROW(InputError, "{}:1: header: {}", path, error);
    }
    std::vector<std::string> names;
    for (auto f : fields) names.push_back(trim(f));
    for (Column* c : columns) resolve_column(c, &names, path);
  } else {
    for (Column* c : columns) resolve_column(c, nullptr, path);
  }
  int needed = 0;
  for (Column* c : columns) needed = std::max(needed, c->index + 1);
  for (size_t a = 0; a < std::size(columns); ++a) {
    for (size_t b = a + 1; b < std::size(columns); ++b) {
      // A rating may both filter (--min-rating) and weigh (--weight-col).
      const bool rating_weight = columns[a] == &rating && columns[b] == &weight;
      if (columns[a]->index >= 0 && columns[a]->index == columns[b]->index && !rating_weight) {
        HR_THROW(UsageError, "{}: {} '{}' and {} '{}' name the same column ({}): each needs "
                 "its own", path, columns[a]->option, quote(*columns[a]->spec),
                 columns[b]->option, quote(*columns[b]->spec), columns[a]->index);
      }
    }
  }

  while (reader.next(&line)) {
    ++stats.lines;
    if (line.find_first_not_of(" \t") == std::string_view::npos) {
      ++stats.blank_lines;
      continue;
    }
    ++stats.records;
    const int64_t ln = reader.line_number();
    if (!split_fields(line, format.sep, &fields, &storage, &error)) {
      ctx->malformed(path, ln, error);
      continue;
    }
    if (static_cast<int>(fields.size()) < needed) {
      ctx->malformed(path, ln,
                     fmt::format("expected at least {} fields separated by '{}', found {}",
                                 needed, format.sep == '\t' ? "\\t" : std::string(1, format.sep),
                                 fields.size()));
      continue;
    }
    const std::string_view user_key = fields[user.index];
    const std::string_view item_key = fields[item.index];
    if (user_key.empty() || item_key.empty()) {
      ctx->malformed(path, ln, fmt::format("empty {} id", user_key.empty() ? "user" : "item"));
      continue;
    }
    std::optional<double> rating_value;
    if (rating.index >= 0) {
      double v = 0;
      if (!parse_double(fields[rating.index], &v)) {
        ctx->malformed(path, ln,
                       fmt::format("rating '{}' (column {}) is not a number",
                                   quote(fields[rating.index]), rating.index));
        continue;
      }
      rating_value = v;
    }
    int64_t t = 0;
    if (time.index >= 0 && !parse_timestamp(fields[time.index], &t)) {
      ctx->malformed(path, ln,
                     fmt::format("time '{}' (column {}) is neither a number of seconds nor an "
                                 "ISO 8601 date",
                                 quote(fields[time.index]), time.index));
      continue;
    }
    std::optional<double> weight_value;
    double v = 0;
    if (weight.index >= 0 && !parse_double(fields[weight.index], &v)) {
      ctx->malformed(path, ln,
                     fmt::format("weight '{}' (column {}) is not a number",
                                 quote(fields[weight.index]), weight.index));
      continue;
    }
    if (weight.index >= 0) weight_value = v;
    std::optional<std::string_view> behavior_value;
    if (behavior.index >= 0) behavior_value = fields[behavior.index];
    // Ids first: an id whose records are all filtered out still exists in
    // train, so a test record naming it is counted (id_not_in_train), not an error.
    int64_t u = 0, i = 0;
    if (!ctx->resolve(path, ln, user_key, item_key, &u, &i)) continue;
    const std::optional<float> w =
        ctx->weigh(path, ln, rating_value, behavior_value, weight_value);
    if (!w) continue;
    ctx->add(u, i, *w, t);
  }
}

}  // namespace halorec::data

#include "data/timestamp.h"

#include <charconv>
#include <cmath>

#include "data/id_table.h"

namespace halorec::data {

namespace {

// Days from 1970-01-01 to the given proleptic Gregorian date.
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool digits(std::string_view s, size_t pos, size_t n, int64_t* out) {
  if (pos + n > s.size()) return false;
  int64_t v = 0;
  for (size_t k = pos; k < pos + n; ++k) {
    if (s[k] < '0' || s[k] > '9') return false;
    v = v * 10 + (s[k] - '0');
  }
  *out = v;
  return true;
}

bool parse_iso(std::string_view s, int64_t* seconds) {
  int64_t y, mo, d, h = 0, mi = 0, se = 0;
  if (!digits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, &mo) ||
      s[7] != '-' || !digits(s, 8, 2, &d)) {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return false;
  size_t pos = 10;
  int64_t offset = 0;
  if (pos < s.size()) {
    if (s[pos] != 'T' && s[pos] != ' ') return false;
    if (!digits(s, pos + 1, 2, &h) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, &mi)) {
      return false;
    }
    pos += 6;
    if (pos < s.size() && s[pos] == ':') {
      if (!digits(s, pos + 1, 2, &se)) return false;
      pos += 3;
      if (pos < s.size() && s[pos] == '.') {
        ++pos;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
      }
    }
    if (h > 23 || mi > 59 || se > 60) return false;
    if (pos < s.size()) {
      if (s[pos] == 'Z' && pos + 1 == s.size()) {
        pos = s.size();
      } else if ((s[pos] == '+' || s[pos] == '-') && s.size() == pos + 6 && s[pos + 3] == ':') {
        int64_t oh, om;
        if (!digits(s, pos + 1, 2, &oh) || !digits(s, pos + 4, 2, &om)) return false;
        offset = (s[pos] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
        pos = s.size();
      } else {
        return false;
      }
    }
  }
  *seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
  return true;
}

}  // namespace

bool parse_timestamp(std::string_view s, int64_t* seconds) {
  if (s.empty()) return false;
  if (parse_int64(s, seconds)) return true;
  double v = 0;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (ec == std::errc() && ptr == end && std::isfinite(v) && std::fabs(v) < 9.2e18) {
    *seconds = static_cast<int64_t>(std::floor(v));
    return true;
  }
  return parse_iso(s, seconds);
}

}  // namespace halorec::data

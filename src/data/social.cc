#include "data/social.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/digest.h"
#include "core/quote.h"
#include "data/id_table.h"
#include "data/line_reader.h"

namespace halorec::data {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Fields split at tabs when the line has one, else at commas when it has
// one, else at runs of spaces.
void split_line(std::string_view line, std::vector<std::string_view>* fields) {
  fields->clear();
  const char sep = line.find('\t') != std::string_view::npos   ? '\t'
                   : line.find(',') != std::string_view::npos ? ','
                                                               : ' ';
  size_t start = 0;
  while (start <= line.size()) {
    size_t end = line.find(sep, start);
    if (end == std::string_view::npos) end = line.size();
    const std::string_view f = trim(line.substr(start, end - start));
    if (sep != ' ' || !f.empty()) fields->push_back(f);
    start = end + 1;
  }
}

}  // namespace

nlohmann::json SocialReport::to_json() const {
  return {{"path", path},         {"fingerprint", fingerprint},   {"lines", lines},
          {"pairs", pairs},       {"edges", edges},               {"unknown_user", unknown_user},
          {"self_pairs", self_pairs}, {"merged", merged}};
}

std::string social_graph_id(const std::string& file_fingerprint, double weight) {
  if (file_fingerprint.empty()) return "";
  Sha256 sha;
  // The plain SHA-256 of the text (no length prefix): docs/formats.md.
  const std::string text =
      fmt::format("social relation v2, own degrees, weight {:.17g}, file {}", weight,
                  file_fingerprint);
  sha.update(text.data(), text.size());
  return sha.hex();
}

std::string social_fingerprint(const std::string& path) {
  if (path.empty()) return "";
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    HR_THROW(InputError, "social edges file '{}': cannot open: {}", path, std::strerror(errno));
  }
  Sha256 sha;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::streamsize n = in.gcount();
    if (n > 0) sha.update(buffer.data(), static_cast<size_t>(n));
  }
  if (in.bad()) HR_THROW(IoError, "social edges file '{}': cannot read", path);
  return sha.hex();
}

SocialEdges read_social(const std::string& path, const std::vector<std::string>& user_ids,
                        SocialReport* report) {
  SocialReport r;
  r.path = path;
  r.fingerprint = social_fingerprint(path);
  std::unordered_map<std::string_view, int64_t> dense;
  dense.reserve(user_ids.size());
  for (size_t u = 0; u < user_ids.size(); ++u) dense.emplace(user_ids[u], static_cast<int64_t>(u));

  struct Pair {
    int64_t a, b;
    float w;
  };
  std::vector<Pair> pairs;
  LineReader reader(path);
  std::string_view line;
  std::vector<std::string_view> fields;
  while (reader.next(&line)) {
    ++r.lines;
    const std::string_view t = trim(line);
    if (t.empty() || t.front() == '#') continue;
    split_line(t, &fields);
    if (fields.size() < 2 || fields.size() > 3 || fields[0].empty() || fields[1].empty()) {
      HR_THROW(InputError, "{}:{}: expected 'USER USER [WEIGHT]' (tab, comma or space separated), "
               "got '{}'", path, reader.line_number(), quote(t, 80));
    }
    for (size_t k = 0; k < 2; ++k) {
      const std::string problem = id_problem(fields[k]);
      if (!problem.empty()) {
        HR_THROW(InputError, "{}:{}: user id '{}' {}", path, reader.line_number(),
                 quote(fields[k], 60), problem);
      }
    }
    float w = 1.0f;
    if (fields.size() == 3) {
      const std::string text(fields[2]);
      char* end = nullptr;
      errno = 0;
      const double v = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end != '\0' || errno != 0 || !std::isfinite(v) || !(v > 0) ||
          !std::isfinite(static_cast<float>(v)) || static_cast<float>(v) <= 0) {
        HR_THROW(InputError, "{}:{}: weight '{}' is not a finite number > 0", path,
                 reader.line_number(), quote(fields[2], 40));
      }
      w = static_cast<float>(v);
    }
    ++r.pairs;
    const auto ia = dense.find(fields[0]);
    const auto ib = dense.find(fields[1]);
    if (ia == dense.end() || ib == dense.end()) {
      if (r.unknown_user++ == 0) {
        r.first_unknown = fmt::format("{}:{}: '{}'", path, reader.line_number(),
                                      quote(ia == dense.end() ? fields[0] : fields[1], 40));
      }
      continue;
    }
    if (ia->second == ib->second) {
      ++r.self_pairs;
      continue;
    }
    pairs.push_back({std::min(ia->second, ib->second), std::max(ia->second, ib->second), w});
  }
  if (pairs.empty()) {
    HR_THROW(InputError, "data.social '{}': none of its {} pairs joins two users of the dataset "
             "({} name an unknown user{}, {} a user with itself); users are named by their "
             "original ids, as in the interaction log", path, r.pairs, r.unknown_user,
             r.first_unknown.empty() ? "" : ", first " + r.first_unknown, r.self_pairs);
  }
  std::stable_sort(pairs.begin(), pairs.end(),
            [](const Pair& x, const Pair& y) { return x.a != y.a ? x.a < y.a : x.b < y.b; });
  SocialEdges e;
  for (const Pair& p : pairs) {
    if (!e.a.empty() && e.a.back() == p.a && e.b.back() == p.b) {
      const double sum = static_cast<double>(e.weight.back()) + p.w;
      if (!(sum <= std::numeric_limits<float>::max())) {
        HR_THROW(InputError, "data.social '{}': the pairs of users '{}' and '{}' weigh {:.4g} "
                 "together, more than a weight holds (at most {:.4g})", path,
                 quote(user_ids[static_cast<size_t>(p.a)]), quote(user_ids[static_cast<size_t>(p.b)]),
                 sum, std::numeric_limits<float>::max());
      }
      e.weight.back() = static_cast<float>(sum);
      ++r.merged;
      continue;
    }
    e.a.push_back(p.a);
    e.b.push_back(p.b);
    e.weight.push_back(p.w);
  }
  r.edges = static_cast<int64_t>(e.size());
  if (report != nullptr) *report = std::move(r);
  return e;
}

}  // namespace halorec::data

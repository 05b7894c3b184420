#include "data/synth.h"

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/progress.h"
#include "core/output_path.h"
#include "core/counter_rng.h"
#include "core/resources.h"
#include "core/staged_path.h"
#include "data/dataset.h"
#include "data/prepare.h"

namespace halorec::data {

namespace {

std::vector<double> zipf_cdf(size_t n, double exponent) {
  std::vector<double> cdf(n);
  double total = 0;
  for (size_t r = 0; r < n; ++r) {
    total += 1.0 / std::pow(static_cast<double>(r + 1), exponent);
    cdf[r] = total;
  }
  for (double& c : cdf) c /= total;
  return cdf;
}

size_t sample(const std::vector<double>& cdf, double u) {
  const size_t k = static_cast<size_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
  return std::min(k, cdf.size() - 1);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

constexpr int64_t kTimeBase = 1600000000;

}  // namespace

std::string communities_path_for(const std::string& out) {
  const size_t dot = out.find_last_of('.');
  const size_t slash = out.find_last_of('/');
  const std::string stem =
      (dot == std::string::npos || (slash != std::string::npos && dot < slash)) ? out
                                                                                : out.substr(0, dot);
  return stem + ".communities.tsv";
}

std::string social_path_for(const std::string& out) {
  const std::string c = communities_path_for(out);
  return c.substr(0, c.size() - std::string(".communities.tsv").size()) + ".social.tsv";
}

SynthModel::SynthModel(const SynthOptions& o) : o_(o) {
  if (o.users < 1) HR_THROW(UsageError, "--users must be >= 1, got {}", o.users);
  if (o.items < 1) HR_THROW(UsageError, "--items must be >= 1, got {}", o.items);
  if (o.interactions < 1) HR_THROW(UsageError, "--interactions must be >= 1, got {}", o.interactions);
  if (o.communities < 1 || o.communities > std::min(o.users, o.items)) {
    HR_THROW(UsageError, "--communities must be in [1, min(users, items)] = [1, {}], got {}",
             std::min(o.users, o.items), o.communities);
  }
  if (o.interests_per_user < 1 || o.interests_per_user > o.communities) {
    HR_THROW(UsageError, "--interests-per-user must be in [1, communities] = [1, {}], got {}",
             o.communities, o.interests_per_user);
  }
  if (!(o.in_community >= 0.0 && o.in_community <= 1.0)) {
    HR_THROW(UsageError, "--in-community must be in [0, 1], got {}", o.in_community);
  }
  if (!(o.item_exponent >= 0.0) || !(o.user_exponent >= 0.0)) {
    HR_THROW(UsageError, "popularity exponents must be >= 0");
  }
  if (o.social_degree < 0 || o.social_degree > 10000) {
    HR_THROW(UsageError, "--social-degree must be in [0, 10000], got {}", o.social_degree);
  }
  if (!(o.homophily >= 0.0 && o.homophily <= 1.0)) {
    HR_THROW(UsageError, "--homophily must be in [0, 1], got {}", o.homophily);
  }
  user_cdf_ = zipf_cdf(static_cast<size_t>(o.users), o.user_exponent);
  community_items_.resize(static_cast<size_t>(o.communities));
  for (int64_t i = 0; i < o.items; ++i) {
    community_items_[static_cast<size_t>(item_community(i))].push_back(i);
  }
  for (auto& items : community_items_) {
    if (items.empty()) items.push_back(0);  // a community without items borrows item 0
    community_cdf_.push_back(zipf_cdf(items.size(), o.item_exponent));
  }
  if (o.social_degree > 0) {
    community_users_.resize(static_cast<size_t>(o.communities));
    for (int64_t u = 0; u < o.users; ++u) {
      community_users_[static_cast<size_t>(user_community(u))].push_back(u);
    }
  }
}

std::vector<int64_t> SynthModel::friends(int64_t user) const {
  std::vector<int64_t> out;
  if (community_users_.empty() || o_.users < 2) return out;
  CounterRng rng(hash_key(o_.seed, 0x534fu, static_cast<uint64_t>(user)));
  for (int64_t j = 0, tries = 0; j < o_.social_degree && tries < 64 * o_.social_degree; ++tries) {
    int64_t c = user_community(user);
    if (rng.uniform() >= o_.homophily) {
      c = static_cast<int64_t>(rng.below(static_cast<uint64_t>(o_.communities)));
    }
    const auto& members = community_users_[static_cast<size_t>(c)];
    const int64_t v = members[static_cast<size_t>(rng.below(members.size()))];
    if (v == user) continue;
    out.push_back(v);
    ++j;
  }
  return out;
}

int32_t SynthModel::user_community(int64_t user) const {
  return static_cast<int32_t>(hash_key(o_.seed, 0x55u, static_cast<uint64_t>(user)) %
                              static_cast<uint64_t>(o_.communities));
}

std::vector<int32_t> SynthModel::user_communities(int64_t user) const {
  std::vector<int32_t> out{user_community(user)};
  CounterRng rng(hash_key(o_.seed, 0x5556u, static_cast<uint64_t>(user)));
  while (static_cast<int64_t>(out.size()) < o_.interests_per_user) {
    const auto c = static_cast<int32_t>(rng.below(static_cast<uint64_t>(o_.communities)));
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  }
  return out;
}

int32_t SynthModel::item_community(int64_t item) const {
  return static_cast<int32_t>(hash_key(o_.seed, 0x49u, static_cast<uint64_t>(item)) %
                              static_cast<uint64_t>(o_.communities));
}

SynthModel::Draw SynthModel::draw(int64_t k) const {
  CounterRng rng(hash_key(o_.seed, 0x4452u, static_cast<uint64_t>(k)));
  Draw d;
  d.user = static_cast<int64_t>(sample(user_cdf_, rng.uniform()));
  int64_t c = user_community(d.user);
  if (o_.interests_per_user > 1) {
    const auto mine = user_communities(d.user);
    c = mine[static_cast<size_t>(rng.below(static_cast<uint64_t>(mine.size())))];
  }
  if (rng.uniform() >= o_.in_community) {
    c = static_cast<int64_t>(rng.below(static_cast<uint64_t>(o_.communities)));
  }
  const auto& items = community_items_[static_cast<size_t>(c)];
  d.item = items[sample(community_cdf_[static_cast<size_t>(c)], rng.uniform())];
  d.time = kTimeBase + k;
  return d;
}

nlohmann::json SynthReport::to_json() const {
  return {{"out", out},
          {"communities_out", communities_out},
          {"social_out", social_out},
          {"social_pairs", social_pairs},
          {"users", users},
          {"items", items},
          {"interactions", interactions},
          {"communities", communities},
          {"train", train},
          {"test", test},
          {"seconds", seconds},
          {"peak_rss_bytes", peak_rss_bytes}};
}

namespace {

class BufferedFile {
 public:
  // Writes `path`; messages name `target` (the file the user asked for).
  BufferedFile(const std::string& path, const std::string& target)
      : path_(target), f_(std::fopen(path.c_str(), "wb")) {
    if (f_ == nullptr) HR_THROW(IoError, "cannot write '{}': {}", target, std::strerror(errno));
  }
  ~BufferedFile() {
    if (f_ != nullptr) std::fclose(f_);
  }
  fmt::memory_buffer& buffer() { return buf_; }
  void maybe_flush() {
    if (buf_.size() > (1 << 20)) flush();
  }
  void close() {
    flush();
    const bool failed = std::fclose(f_) != 0;
    f_ = nullptr;
    if (failed) HR_THROW(IoError, "cannot write '{}': {}", path_, std::strerror(errno));
  }

 private:
  void flush() {
    if (std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size()) {
      HR_THROW(IoError, "cannot write '{}': {}", path_, std::strerror(errno));
    }
    buf_.clear();
  }
  std::string path_;
  std::FILE* f_;
  fmt::memory_buffer buf_;
};

void write_log(const SynthOptions& o, const SynthModel& model, char sep, SynthReport* report) {
  StagedPath staged(o.out);
  StagedPath staged_comm(communities_path_for(o.out));
  {
    BufferedFile out(staged.temp(), staged.target());
    fmt::format_to(std::back_inserter(out.buffer()), "user{}item{}time\n", sep, sep);
    Progress progress("synth", "interactions", o.interactions);
    for (int64_t k = 0; k < o.interactions; ++k) {
      progress.tick(k);
      const auto d = model.draw(k);
      fmt::format_to(std::back_inserter(out.buffer()), "u{}{}i{}{}{}\n", d.user, sep, d.item, sep,
                     d.time);
      out.maybe_flush();
    }
    out.close();
    BufferedFile comm(staged_comm.temp(), staged_comm.target());
    fmt::format_to(std::back_inserter(comm.buffer()), "kind\tid\tcommunity\n");
    for (int64_t u = 0; u < o.users; ++u) {
      if (o.interests_per_user > 1) {
        fmt::format_to(std::back_inserter(comm.buffer()), "user\tu{}\t{}\n", u,
                       fmt::join(model.user_communities(u), ","));
      } else {
        fmt::format_to(std::back_inserter(comm.buffer()), "user\tu{}\t{}\n", u,
                       model.user_community(u));
      }
      comm.maybe_flush();
    }
    for (int64_t i = 0; i < o.items; ++i) {
      fmt::format_to(std::back_inserter(comm.buffer()), "item\ti{}\t{}\n", i,
                     model.item_community(i));
      comm.maybe_flush();
    }
    comm.close();
  }
  staged.commit();
  staged_comm.commit();
  report->communities_out = staged_comm.target();
}

// NAME.social.tsv: `u<a>\tu<b>` per line, each user's friends in turn.
void write_social(const SynthOptions& o, const SynthModel& model, SynthReport* report) {
  StagedPath staged(social_path_for(o.out));
  {
    BufferedFile out(staged.temp(), staged.target());
    fmt::format_to(std::back_inserter(out.buffer()),
                   "# synth social edges: user, friend (--social-degree {}, --homophily {})\n",
                   o.social_degree, o.homophily);
    for (int64_t u = 0; u < o.users; ++u) {
      for (int64_t v : model.friends(u)) {
        fmt::format_to(std::back_inserter(out.buffer()), "u{}\tu{}\n", u, v);
        ++report->social_pairs;
      }
      out.maybe_flush();
    }
    out.close();
  }
  staged.commit();
  report->social_out = staged.target();
}

void write_h5(const SynthOptions& o, const SynthModel& model, SynthReport* report) {
  RawInteractions raw;
  raw.train.has_time = true;
  for (int64_t u = 0; u < o.users; ++u) raw.users.intern(fmt::format("u{}", u));
  for (int64_t i = 0; i < o.items; ++i) raw.items.intern(fmt::format("i{}", i));
  raw.train.reserve(static_cast<size_t>(o.interactions));
  Progress progress("synth", "interactions", o.interactions);
  for (int64_t k = 0; k < o.interactions; ++k) {
    progress.tick(k);
    const auto d = model.draw(k);
    raw.train.push(d.user, d.item, 1.0f, d.time);
  }
  raw.stats.records = o.interactions;
  raw.stats.lines = o.interactions;
  PrepareReport prep;
  Dataset d = build_dataset(std::move(raw), 0, o.split, o.seed, &prep);
  // Planted communities of the users and items that remain, by dense id.
  for (const auto& id : d.user_ids) d.user_community.push_back(model.user_community(std::stoll(id.substr(1))));
  for (const auto& id : d.item_ids) d.item_community.push_back(model.item_community(std::stoll(id.substr(1))));
  d.source = fmt::format("synth --users {} --items {} --interactions {} --communities {} --seed {}",
                         o.users, o.items, o.interactions, o.communities, o.seed);
  prep.out = o.out;
  prep.fingerprint = d.fingerprint();
  write_dataset(d, o.out, prep.to_json().dump(), prep.fingerprint);
  report->train = prep.train;
  report->test = prep.test;
}

}  // namespace

SynthReport run_synth(const SynthOptions& o) {
  if (o.out.empty()) HR_THROW(UsageError, "--out is required");
  Stopwatch watch;
  SynthModel model(o);
  SynthReport report;
  report.out = o.out;
  // One lock for the file and its companions (communities, social edges).
  const PathLock lock = lock_output({"--out", o.out}, false);
  if (ends_with(o.out, ".h5")) {
    check_output_file({"--out", o.out}, {}, is_dataset_file);
  } else if (ends_with(o.out, ".tsv") || ends_with(o.out, ".csv")) {
    check_output_file({"--out", o.out}, {}, nullptr, o.force);
    check_output_file({"--out (its communities)", communities_path_for(o.out)}, {}, nullptr,
                      o.force);
  }
  if (o.social_degree > 0 && (ends_with(o.out, ".h5") || ends_with(o.out, ".tsv") ||
                              ends_with(o.out, ".csv"))) {
    check_output_file({"--out (its social edges)", social_path_for(o.out)}, {}, nullptr, o.force);
  }
  if (ends_with(o.out, ".h5")) {
    write_h5(o, model, &report);
  } else if (ends_with(o.out, ".tsv") || ends_with(o.out, ".csv")) {
    write_log(o, model, ends_with(o.out, ".csv") ? ',' : '\t', &report);
  } else {
    HR_THROW(UsageError, "--out '{}': expected a .tsv, .csv or .h5 file name", o.out);
  }
  if (o.social_degree > 0) write_social(o, model, &report);
  report.users = o.users;
  report.items = o.items;
  report.interactions = o.interactions;
  report.communities = o.communities;
  report.seconds = watch.seconds();
  report.peak_rss_bytes = peak_rss_bytes();
  return report;
}

}  // namespace halorec::data

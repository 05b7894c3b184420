#include "data/read_context.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/quote.h"
#include "core/log.h"

namespace halorec::data {

namespace {
constexpr int64_t kMaxWarnings = 5;
}

ReadContext::ReadContext(const ReaderConfig& config, IdTable* users, IdTable* items,
                         IdMode mode, Interactions* out)
    : config_(config), users_(users), items_(items), mode_(mode), out_(out) {}

void ReadContext::malformed(const std::string& path, int64_t line, const std::string& what) {
  if (!config_.skip_bad_lines) {
    HR_THROW(InputError, "{}:{}: {} (use --skip-bad-lines to count and skip such lines)", path,
             line, what);
  }
  if (stats_.dropped[DropReason::kMalformed]++ == 0) {
    first_malformed_ = fmt::format("line {}: {}", line, what);
  }
  if (warned_++ < kMaxWarnings) log::warn("skipping {}:{}: {}", path, line, what);
}

void ReadContext::check_skipped(const std::string& path) const {
  const int64_t skipped = stats_.dropped[DropReason::kMalformed];
  if (skipped == 0) return;
  const double share = static_cast<double>(skipped) / static_cast<double>(std::max<int64_t>(1, stats_.records));
  // A share needs numbers to mean anything: a small file may lose a few
  // lines (up to 10), unless they are half of it.
  if (share <= config_.max_skipped || (skipped <= 10 && share <= 0.5)) {
    log::warn("{}: skipped {} malformed of {} records ({:.3g} %)", path, skipped, stats_.records,
              100.0 * share);
    return;
  }
  HR_THROW(InputError,
           "{}: {} of its {} records ({:.3g} %) are malformed, more than --max-skipped {} "
           "allows: the format or columns are probably wrong, and the dataset would be "
           "corrupt; nothing was written (first: {}). Raise --max-skipped to accept them",
           path, skipped, stats_.records, 100.0 * share, config_.max_skipped, first_malformed_);
}

bool ReadContext::resolve(const std::string& path, int64_t line, std::string_view user_key,
                          std::string_view item_key, int64_t* user, int64_t* item) {
  for (const auto& [what, key] : {std::pair{"user", user_key}, std::pair{"item", item_key}}) {
    const std::string problem = id_problem(key);
    if (!problem.empty()) {
      malformed(path, line, fmt::format("{} id '{}' {}", what, quote(key, 60), problem));
      return false;
    }
  }
  if (mode_ == IdMode::kAdd) {
    *user = users_->intern(user_key);
    *item = items_->intern(item_key);
    return true;
  }
  *user = users_->find(user_key);
  *item = items_->find(item_key);
  if (*user != IdTable::kMissing && *item != IdTable::kMissing) return true;
  if (config_.unseen_test == UnseenTest::kKeep) {
    *user = users_->intern(user_key);
    *item = items_->intern(item_key);
    ++stats_.unseen_test_kept;
    return true;
  }
  const bool user_missing = *user == IdTable::kMissing;
  const std::string what =
      fmt::format("{} '{}' does not occur in the train data", user_missing ? "user" : "item",
                  quote(user_missing ? user_key : item_key));
  if (config_.unseen_test == UnseenTest::kError && !config_.skip_bad_lines) {
    HR_THROW(InputError,
             "{}:{}: {} (--unseen-test drop counts and drops such records, --unseen-test keep "
             "keeps them as misses no model can recover, as published protocols do)",
             path, line, what);
  }
  ++stats_.dropped[DropReason::kUnknownIdInTest];
  if (warned_++ < kMaxWarnings) log::warn("skipping {}:{}: {}", path, line, what);
  return false;
}

std::optional<float> ReadContext::weigh(const std::string& path, int64_t line,
                                        std::optional<double> rating,
                                        std::optional<std::string_view> behavior,
                                        std::optional<double> value) {
  if (config_.min_rating && rating && *rating < *config_.min_rating) {
    ++stats_.dropped[DropReason::kBelowRating];
    return std::nullopt;
  }
  float scale = 1.0f;
  if (value) {
    scale = static_cast<float>(config_.weight_log1p ? std::log1p(*value) : *value);
    if (!(*value > 0) || !(scale > 0) || !std::isfinite(scale)) {
      ++stats_.dropped[DropReason::kNonpositiveWeight];
      return std::nullopt;
    }
  }
  if (config_.behavior_weights.empty() || !behavior) return scale;
  auto it = config_.behavior_weights.find(std::string(*behavior));
  if (it == config_.behavior_weights.end()) {
    if (stats_.dropped[DropReason::kUnweightedBehavior]++ == 0) {
      log::warn("{}:{}: behavior '{}' has no weight in --behavior-weights; such records are "
                "dropped and counted as unweighted_behavior",
                path, line, quote(*behavior));
    }
    return std::nullopt;
  }
  const float w = scale * it->second;
  if (!std::isfinite(w)) {
    ++stats_.dropped[DropReason::kNonpositiveWeight];
    return std::nullopt;
  }
  return w;
}

}  // namespace halorec::data

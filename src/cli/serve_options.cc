#include "cli/serve_options.h"

#include <ATen/Parallel.h>

#include <algorithm>

#include "core/check.h"
#include "core/digest.h"
#include "core/resources.h"

namespace halorec::cli {

void add_allow_readable_key(CLI::App* sub, bool* allow) {
  sub->add_flag("--allow-readable-key", *allow,
                "Accept a key file that its group or others can read (refused otherwise, as ssh "
                "refuses such private keys)");
}

std::string key_of(const std::string& key_file, bool allow_readable) {
  return key_file.empty() ? std::string() : read_key_file(key_file, allow_readable);
}

void add_strategy_options(CLI::App* sub, serve::RecommendOptions* o) {
  sub->add_option("--diversity", o->diversity,
                  "mmr: weight of diversity against relevance, in [0, 1]");
  sub->add_option("--candidates", o->candidates, "mmr: re-rank this many best-scored items");
  sub->add_option("--steer", o->steer,
                  "multi: turn the user's vector this far toward each interest's medoid "
                  "(u + steer |u| m/|m|; 0: single's lists, large: the medoid alone)");
}

void add_threads_option(CLI::App* sub, int64_t* threads) {
  sub->add_option("--threads", *threads,
                  "Threads for scoring and ranking (0: all cores, shared among the ranks on "
                  "the node)");
}

int64_t use_threads(int64_t threads, int64_t ranks_on_node) {
  const int64_t n = thread_count(threads, ranks_on_node, "--threads");
  at::set_num_threads(static_cast<int>(n));
  return n;
}

}  // namespace halorec::cli

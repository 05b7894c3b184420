#include "partition/partition_job.h"

#include <filesystem>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/digest.h"
#include "core/log.h"
#include "core/output_path.h"
#include "core/resources.h"
#include "core/staged_path.h"
#include "data/dataset.h"
#include "data/social.h"
#include "data/split.h"
#include "partition/halo_plan.h"
#include "partition/shard_file.h"

namespace fs = std::filesystem;

namespace halorec::partition {

namespace {

std::string partition_fingerprint(const PartitionMeta& m) {
  Sha256 sha;
  sha.update(m.dataset_fingerprint);
  sha.update(m.method);
  sha.update_u64(m.seed);
  sha.update_u64(static_cast<uint64_t>(m.num_parts));
  sha.update_vector(m.owner);
  if (m.validation > 0) {  // partitions without a carve keep their fingerprints
    sha.update(fmt::format("validation {:.17g} {}", m.validation, m.validation_seed));
  }
  if (!m.social_fingerprint.empty()) sha.update("social " + m.social_fingerprint);
  return sha.hex();
}

}  // namespace

PartitionResult run_partition(const PartitionOptions& o) {
  if (o.parts < 1) HR_THROW(UsageError, "--parts must be >= 1, got {}", o.parts);
  if (o.out.empty()) HR_THROW(UsageError, "--out is required");
  if (!(o.social_weight >= 0 && o.social_weight <= 1)) {
    HR_THROW(UsageError, "--social-weight must be in [0, 1], got {}", o.social_weight);
  }
  const PathLock lock = lock_output({o.out_option, o.out}, true);
  check_output_folder({o.out_option, o.out}, "partition",
                      {{"--dataset", o.dataset}, {"--social", o.social}}, o.force);
  Stopwatch watch;
  if (!(o.validation >= 0 && o.validation < 1)) {
    HR_THROW(UsageError, "--validation must be a fraction in [0, 1), got {}", o.validation);
  }
  data::Dataset d = data::read_dataset(o.dataset);
  const std::string dataset_fingerprint = d.fingerprint();
  // The validation carve, before the graph: its edges are not propagated.
  data::Interactions validation;
  if (o.validation > 0) {
    validation = data::carve_validation(o.validation, o.validation_seed, &d.train);
    log::info("validation: {} of {} train records carved ({} per user, seed {})",
              validation.size(), validation.size() + d.train.size(), o.validation,
              o.validation_seed);
  }
  const int64_t nodes = d.num_users() + d.num_items();
  if (o.parts > nodes) {
    HR_THROW(UsageError, "--parts {} is larger than the graph's {} nodes ({} users + {} items)",
             o.parts, nodes, d.num_users(), d.num_items());
  }
  // Social edges join the graph as user-user edges.
  data::SocialEdges social;
  data::SocialReport social_report;
  if (!o.social.empty()) {
    social = data::read_social(o.social, d.user_ids, &social_report);
    log::info("social: {} user-user edges from {} ({} pairs; {} naming users not in the "
              "dataset skipped{}, {} self pairs skipped, {} repeats merged)",
              social.size(), o.social, social_report.pairs, social_report.unknown_user,
              social_report.first_unknown.empty() ? "" : ", first " + social_report.first_unknown,
              social_report.self_pairs, social_report.merged);
  }
  const graph::Csr g =
      graph::normalized_adjacency(d, o.social.empty() ? nullptr : &social, o.social_weight);
  log::info("graph: {} nodes, {} edges ({} user-item, {} user-user) ({:.2f} s)", nodes,
            d.train.size() + social.size(), d.train.size(), social.size(), watch.seconds());

  PartitionMeta meta;
  meta.num_parts = o.parts;
  meta.method = method_name(o.method);
  meta.seed = o.seed;
  meta.dataset_path = fs::absolute(o.dataset).string();
  meta.dataset_fingerprint = dataset_fingerprint;
  meta.num_users = d.num_users();
  meta.num_items = d.num_items();
  meta.num_edges = static_cast<int64_t>(d.train.size());
  meta.validation = o.validation;
  meta.validation_seed = o.validation > 0 ? o.validation_seed : 0;
  meta.num_validation = static_cast<int64_t>(validation.size());
  if (!o.social.empty()) {
    meta.social_path = fs::absolute(o.social).string();
    meta.social_fingerprint = data::social_graph_id(social_report.fingerprint, o.social_weight);
    meta.num_social = static_cast<int64_t>(social.size());
  }
  if (o.parts > 1) {
    log::info("{}: assigning {} nodes to {} parts ...", meta.method, nodes, o.parts);
  }
  meta.owner = assign_owners(g, o.parts, o.method, o.seed, o.max_imbalance);
  meta.fingerprint = partition_fingerprint(meta);
  log::info("{} owners for {} parts ({:.2f} s)", meta.method, o.parts, watch.seconds());

  const std::vector<Shard> shards = build_shards(d, g, meta.owner, o.parts,
                                               o.validation > 0 ? &validation : nullptr);
  PartitionResult result;
  result.stats = compute_stats(g, meta.owner, shards);
  // Stored without timings, so that the same inputs give byte-identical files.
  nlohmann::json stored = result.stats.to_json();
  stored.erase("seconds");
  stored.erase("peak_rss_bytes");
  meta.stats_json = stored.dump();

  StagedPath staged(o.out);
  make_marked_folder(staged.temp(), "partition", o.out_option);
  write_meta(staged.temp(), meta);
  for (const Shard& s : shards) write_shard(staged.temp(), s, meta);
  staged.commit();

  result.out = o.out;
  result.method = meta.method;
  result.parts = o.parts;
  result.fingerprint = meta.fingerprint;
  result.num_validation = meta.num_validation;
  result.num_social = meta.num_social;
  result.stats.seconds = watch.seconds();
  result.stats.peak_rss_bytes = peak_rss_bytes();
  return result;
}

}  // namespace halorec::partition

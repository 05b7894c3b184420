#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "partition/partition_job.h"

namespace halorec::cli {

namespace {

class PartitionCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand(
        "partition", "Split the user-item graph into per-rank shards with halo exchange plans");
    sub->add_option("--dataset", o_.dataset, "Dataset file (from halorec prepare)")->required();
    sub->add_option("--parts", o_.parts, "Number of parts (ranks)")->required();
    sub->add_option("--method", method_,
                    "metis (balanced, small halo), random, hash, or fennel (one streaming pass: "
                    "graphs beyond METIS)")
        ->check(CLI::IsMember({"metis", "random", "hash", "fennel"}));
    sub->add_option("--seed", o_.seed, "Seed for metis, random and fennel");
    sub->add_option("--max-imbalance", o_.max_imbalance,
                    "metis, fennel: allowed max/mean of nodes and of edges per rank (smaller halos "
                    "with more slack)");
    sub->add_option("--validation", o_.validation,
                    "Carve this fraction of each user's train records into a validation split "
                    "that the graph leaves out (train's data.validation); 0: none");
    sub->add_option("--validation-seed", o_.validation_seed,
                    "Seed of the validation carve (train's data.validation_seed)");
    sub->add_option("--social", o_.social,
                    "Social edges: a file of user-user pairs 'USER USER [WEIGHT]' (original "
                    "ids) joining the graph (train's data.social)");
    sub->add_option("--social-weight", o_.social_weight,
                    "The social relation's weight beside the interactions (train's "
                    "data.social_weight; 0: left out)");
    sub->add_option("--out", o_.out, "Output folder (written atomically)")->required();
    sub->add_flag("--force", o_.force, "Replace a non-empty output folder");
    sub->add_flag("--json", json_, "Print the statistics as one JSON object on stdout");
    return sub;
  }

  int run() override {
    o_.method = partition::parse_method(method_);
    const partition::PartitionResult r = partition::run_partition(o_);
    const partition::PartitionStats& s = r.stats;
    nlohmann::json j = s.to_json();
    j["out"] = r.out;
    j["method"] = r.method;
    j["parts"] = r.parts;
    j["fingerprint"] = r.fingerprint;
    std::string text = fmt::format("wrote {}: {} parts by {}\n", r.out, r.parts, r.method);
    if (o_.validation > 0) {
      j["validation"] = o_.validation;
      j["validation_seed"] = o_.validation_seed;
      j["validation_records"] = r.num_validation;
      text += fmt::format("  validation: {} records carved ({} per user, seed {})\n",
                          r.num_validation, o_.validation, o_.validation_seed);
    }
    if (!o_.social.empty()) {
      j["social"] = o_.social;
      j["social_edges"] = r.num_social;
      text += fmt::format("  social: {} user-user edges from {}\n", r.num_social, o_.social);
    }
    text += fmt::format("  {:>5} {:>10} {:>10} {:>12} {:>10}\n", "rank", "nodes", "users",
                        "edges", "halo");
    for (size_t k = 0; k < s.nodes.size(); ++k) {
      text += fmt::format("  {:>5} {:>10} {:>10} {:>12} {:>10}\n", k, s.nodes[k], s.users[k],
                          s.edges[k], s.halo[k]);
    }
    text += fmt::format(
        "  imbalance (max/mean): nodes {:.3f}  edges {:.3f}\n"
        "  edge cut {}  halo total {}  halo max {}  exchange at dim 64: {:.1f} MiB\n"
        "  {:.2f} s, peak RSS {:.1f} MiB",
        s.node_imbalance, s.edge_imbalance, s.edge_cut, s.halo_volume_total, s.halo_max,
        static_cast<double>(s.exchange_bytes_dim64) / (1 << 20), s.seconds,
        static_cast<double>(s.peak_rss_bytes) / (1 << 20));
    print_report(json_, j, text);
    return 0;
  }

 private:
  partition::PartitionOptions o_;
  std::string method_ = "metis";
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_partition_command() {
  return std::make_unique<PartitionCommand>();
}

}  // namespace halorec::cli

// halorec export: the final vectors of a checkpoint -> model.h5 for serving.

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/serve_options.h"
#include "comm/communicator.h"
#include "comm/communicator_factory.h"
#include "comm/mpi_runtime.h"
#include "core/check.h"
#include "core/resources.h"
#include "export/export.h"

namespace halorec::cli {

namespace {

class ExportCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand(
        "export", "Write the final user and item vectors of a checkpoint to model.h5 for serving");
    sub->add_option("--checkpoint", o_.checkpoint,
                    "A checkpoint, or a folder whose newest committed checkpoint is used")
        ->required();
    sub->add_option("--out", o_.out, "Output model file (written atomically)")->required();
    sub->add_option("--dtype", o_.dtype, "Vector storage: fp32 or fp16")
        ->check(CLI::IsMember({"fp32", "fp16"}));
    sub->add_option("--dataset", o_.dataset,
                    "Dataset (default: data.dataset of the checkpoint's config)");
    sub->add_option("--social", o_.social,
                    "Social edges file, when the checkpoint's graph had one (default: "
                    "data.social of the checkpoint's config; checked by fingerprint)");
    sub->add_flag("--interests", o_.interests,
                  "Also store every user's interests (see 'halorec interests') for "
                  "'recommend --strategy multi'");
    sub->add_option("--max-interests", o_.interest_options.max_interests,
                    "With --interests: at most this many per user");
    sub->add_option("--interest-threshold", threshold_,
                    "With --interests: stop merging item groups when merging costs more than "
                    "this (the rise in their sum of squared distances of unit vectors); auto: "
                    "the median 2 - 2 cos of two items of one user")
        ->default_str("auto");
    sub->add_option("--pseudonymize", o_.pseudonymize_key_file,
                    "KEY_FILE: store user ids as HMAC-SHA256(key, id), rows in pseudonym order "
                    "(docs/interests.md)");
    add_allow_readable_key(sub, &o_.allow_readable_key);
    sub->add_option("--parts", o_.parts,
                    "Under mpirun -np P: the P-part partition folder to export by, made there "
                    "when absent or stale (default: the run's data.parts when it fits, else a "
                    "scratch partition beside --out, removed afterwards)");
    sub->add_option("--index", o_.index,
                    "Also write an ANN index of the item vectors beside --out (NAME.TAG.faiss, "
                    "named by model.h5): flat, hnsw or ivfpq (docs/formats.md)")
        ->check(CLI::IsMember({"flat", "hnsw", "ivfpq"}));
    sub->add_option("--index-params", index_params_,
                    "key=value,... for --index: m, ef_construction, ef_search (hnsw); nlist, "
                    "pq_m, nprobe (ivfpq)");
    add_threads_option(sub, &threads_);
    sub->add_flag("--json", json_, "Print the report as one JSON object on stdout");
    return sub;
  }
  int run() override {
    o_.interest_options.threshold = serve::parse_threshold(threshold_, "--interest-threshold");
    if (o_.interests) serve::check_interest_options(o_.interest_options);
    if (!index_params_.empty()) {
      if (o_.index.empty()) HR_THROW(UsageError, "--index-params needs --index");
      serve::parse_index_params(index_params_, &o_.index_options);
    }
    if (launched_ranks() == 1) {
      // One process: the model runs through a one-rank in-process
      // communicator; MPI is never initialized.
      if (!o_.parts.empty()) {
        HR_THROW(UsageError, "--parts is for an export under mpirun -np P (P > 1)");
      }
      use_threads(threads_);
      return report(exporting::run_export(o_), 0);
    }
    // Each rank exports its shard and writes its own rows (docs/formats.md).
    comm::MpiRuntime mpi(nullptr, nullptr);
    return comm::run_or_abort_job([&] {
      auto comm = comm::make_communicator("mpi", false, 600);
      use_threads(threads_, comm->local_size());
      const exporting::ExportReport r = exporting::run_sharded_export(o_, *comm);
      return comm->rank() == 0 ? report(r, comm->size()) : 0;
    });
  }

 private:
  int report(const exporting::ExportReport& r, int ranks) const {
    const nlohmann::json j = {{"checkpoint", r.checkpoint},
                              {"out", r.out},
                              {"users", r.users},
                              {"items", r.items},
                              {"dim", r.dim},
                              {"bytes", r.bytes},
                              {"dtype", o_.dtype},
                              {"seconds", r.seconds},
                              {"interests", r.interests},
                              {"interest_seconds", r.interest_seconds},
                              {"cold_items", r.cold_items},
                              {"cold_users", r.cold_users},
                              {"pseudonymized", !o_.pseudonymize_key_file.empty()},
                              {"parts", ranks},
                              {"peak_rss_mib", r.peak_rss_mib},
                              {"index", r.index_file},
                              {"index_bytes", r.index_bytes},
                              {"index_seconds", r.index_seconds}};
    print_report(json_, j,
                 fmt::format("wrote {}{}: {} users, {} items, dim {}, {} ({:.1f} MiB) from {} in "
                             "{:.2f} s",
                             r.out, ranks > 0 ? fmt::format(" and {} parts in {}.parts", ranks, r.out) : "",
                             r.users, r.items, r.dim, o_.dtype,
                             static_cast<double>(r.bytes) / (1 << 20), r.checkpoint, r.seconds));
    return 0;
  }

  exporting::ExportOptions o_;
  std::string index_params_;
  std::string threshold_ = "auto";
  int64_t threads_ = 0;
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_export_command() { return std::make_unique<ExportCommand>(); }

}  // namespace halorec::cli

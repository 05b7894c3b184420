// halorec index: an ANN index (NAME.TAG.faiss) for an existing model.h5, one
// exported by one process or by P ranks (no MPI, no trainer).

#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/serve_options.h"
#include "core/check.h"
#include "core/output_path.h"
#include "core/resources.h"
#include "serve/ann_index.h"
#include "serve/model_file.h"

namespace halorec::cli {

namespace {

class IndexCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand(
        "index",
        "Build (or rebuild) the ANN index of a model.h5: NAME.TAG.faiss beside it, named by it");
    sub->add_option("--model", model_, "Model file from halorec export")->required();
    sub->add_option("--kind", o_.kind, "flat, hnsw or ivfpq (docs/formats.md)")
        ->required()
        ->check(CLI::IsMember({"flat", "hnsw", "ivfpq"}));
    sub->add_option("--index-params", index_params_,
                    "key=value,...: m, ef_construction, ef_search (hnsw); nlist, pq_m, nprobe "
                    "(ivfpq)");
    add_threads_option(sub, &threads_);
    sub->add_flag("--json", json_, "Print the report as one JSON object on stdout");
    return sub;
  }
  int run() override {
    serve::parse_index_params(index_params_, &o_);
    serve::check_index_options(o_);
    serve::require_faiss();
    // The model and its index are one set: export to the same --out locks it
    // too. Locked first: an export may be writing it right now.
    const PathLock lock = lock_output({"--model", model_}, false);
    std::error_code ec;
    if (!std::filesystem::exists(model_, ec)) {
      HR_THROW(InputError, "--model '{}' does not exist", model_);
    }
    if (!serve::is_model_file(model_)) {
      HR_THROW(InputError, "--model '{}' is not a HaloRec model file (halorec export writes one)",
               model_);
    }
    const int64_t threads = use_threads(threads_);
    const serve::IndexReport r = serve::index_model(model_, o_);
    const std::string& path = r.path;
    const nlohmann::json j = {{"model", model_},  {"index", path},        {"kind", r.kind},
                              {"items", r.items}, {"bytes", r.bytes},     {"seconds", r.seconds},
                              {"sha256", r.sha256}, {"threads", threads}};
    print_report(json_, j,
                 fmt::format("wrote {}: {} index of {} items, {:.1f} MiB, in {:.2f} s on {} "
                             "threads; recorded in {}",
                             path, r.kind, r.items, static_cast<double>(r.bytes) / (1 << 20),
                             r.seconds, threads, model_));
    return 0;
  }

 private:
  std::string model_, index_params_;
  serve::IndexOptions o_;
  int64_t threads_ = 0;
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_index_command() { return std::make_unique<IndexCommand>(); }

}  // namespace halorec::cli

// run_sharded_export: each rank of a job exports its shard's rows to a part
// file; rank 0 commits model.h5 naming the parts (and the index of them).

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <limits>
#include <optional>

#include "checkpoint/checkpoint.h"
#include "comm/communicator.h"
#include "comm/shared_name.h"
#include "core/check.h"
#include "core/log.h"
#include "core/output_path.h"
#include "core/path_lock.h"
#include "core/progress.h"
#include "core/resources.h"
#include "core/temp_files.h"
#include "data/dataset.h"
#include "export/export.h"
#include "export/index_set.h"
#include "export/start.h"
#include "export/vectors.h"
#include "h5/file.h"
#include "model/scoring.h"
#include "partition/shard_file.h"
#include "serve/model_file.h"
#include "train/run_folders.h"

namespace halorec::exporting {

namespace {

namespace fs = std::filesystem;

// The file of rank `rank`'s rows in an export by `ranks` ranks.
std::string part_file(const std::string& tag, int rank, int ranks) {
  return fmt::format("{}-rank-{:05d}-of-{:05d}.h5", tag, rank, ranks);
}

// Removes the part files of earlier exports to `out` (HaloRec's part
// files only; anything else in the folder is left alone).
void remove_stale_parts(const std::string& parts_dir, const std::string& tag) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parts_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file(ec) || name.rfind(tag + "-", 0) == 0) continue;
    if (name.size() < 3 || name.substr(name.size() - 3) != ".h5") continue;
    if (h5::file_format(e.path().string()) != serve::kModelPartFormat) continue;
    fs::remove(e.path(), ec);
  }
}

// The P-part partition to export by: --parts (made there when absent, stale
// or for another rank count), else the run's own when it fits (only read:
// export never writes where a checkpoint's config points), else a scratch
// partition beside --out that `scratch` removes afterwards. Collective.
std::string partition_folder(const ExportOptions& o, const train::TrainConfig& pc,
                             comm::Communicator& comm, std::optional<TempPath>* scratch) {
  if (!o.parts.empty()) return o.parts;
  const std::string run_parts = pc.parts.empty() ? pc.output_dir + "/parts" : pc.parts;
  at::Tensor fits = at::zeros({1}, at::kLong);
  if (comm.rank() == 0 && train::partition_fits(pc, run_parts, comm.size())) fits.fill_(1);
  fits = fits.to(comm.device());
  comm.broadcast(fits, 0);
  const fs::path out_dir =
      fs::path(o.out).has_parent_path() ? fs::path(o.out).parent_path() : fs::path(".");
  const std::string folder =
      (out_dir / ("." + fs::path(o.out).filename().string().substr(0, 200) + ".partition-" +
                  comm::shared_random_hex(comm)))
          .string();
  if (fits.cpu().item<int64_t>() == 1) return run_parts;
  if (comm.rank() == 0) {
    make_marked_folder(folder, "scratch", "--out");
    scratch->emplace(folder);
    log::info("the run's partition does not fit this export: partitioning into {} (give "
              "--parts DIR to keep one)", folder);
  }
  return folder + "/parts";
}

// This rank's rows: its owned users, then its owned items (by dense id);
// the last rank adds the cold-start ones, which model.h5 keeps last.
// cold[0], cold[1]: the cold items and users added.
serve::ModelPart rows_of_shard(const partition::Shard& shard, const at::Tensor& final_vectors,
                               const std::string& dataset, bool last_rank,
                               const train::NodeFeatures& features, const train::TrainConfig& c,
                               const std::vector<at::Tensor>& dense, int64_t cold[2]) {
  serve::ModelPart part;
  const int64_t dim = final_vectors.size(1);
  std::vector<std::string> ids = data::read_original_ids(dataset, shard.owned, shard.num_users);
  const int64_t n_users =
      std::lower_bound(shard.owned.begin(), shard.owned.end(), shard.num_users) -
      shard.owned.begin();
  part.user_ids.assign(std::make_move_iterator(ids.begin()),
                       std::make_move_iterator(ids.begin() + n_users));
  part.item_ids.assign(std::make_move_iterator(ids.begin() + n_users),
                       std::make_move_iterator(ids.end()));
  const float* p = final_vectors.data_ptr<float>();
  part.user_vectors.assign(p, p + n_users * dim);
  part.item_vectors.assign(p + n_users * dim, p + final_vectors.numel());
  if (!last_rank) return part;
  for (const bool items : {true, false}) {
    const at::Tensor v = cold_vectors(items, features, c, dense);
    if (!v.defined()) continue;
    const auto& f = items ? features.items : features.users;
    auto& side_ids = items ? part.item_ids : part.user_ids;
    auto& vectors = items ? part.item_vectors : part.user_vectors;
    side_ids.insert(side_ids.end(), f.cold_ids.begin(), f.cold_ids.end());
    vectors.insert(vectors.end(), v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
    cold[items ? 0 : 1] = static_cast<int64_t>(f.cold_ids.size());
  }
  return part;
}

// Rank 0 holds the lock on model.h5, its parts and its index for the job,
// and checks them against the inputs before any work.
std::optional<PathLock> claim_outputs(const ExportOptions& o, const ExportStart& s, int rank) {
  std::optional<PathLock> lock;
  if (rank != 0) return lock;
  const std::string parts_dir = o.out + ".parts";
  lock.emplace(lock_output({"--out", o.out}, false));
  check_output_file({"--out", o.out}, s.inputs, serve::is_model_file);
  check_output_folder({"--out (its parts folder)", parts_dir}, "model-parts", s.inputs, true, true);
  make_marked_folder(parts_dir, "model-parts", "--out");
  return lock;
}

// Rank 0, once every part is written: model.h5 naming the parts (and the
// index of their item rows, built first: the two are replaced together).
// `counts` holds each rank's users, items, cold items, cold users.
void commit_model(const ExportOptions& o, const ExportStart& s, const std::string& fingerprint,
                  const checkpoint::TrainState& state, int64_t dim, const std::string& tag,
                  const at::Tensor& counts, ExportReport* r) {
  const int P = static_cast<int>(counts.size(0));
  const std::string parts_dir = o.out + ".parts";
  serve::ModelFile m;
  m.dim = dim;
  describe_model(s, state, fingerprint, o.dtype, &m);
  m.cold_items = counts[P - 1][2].item<int64_t>();
  m.cold_users = counts[P - 1][3].item<int64_t>();
  m.item_names = data::read_dataset_item_names(s.dataset);
  std::vector<std::string> files;
  std::vector<int64_t> users, items;
  const std::string folder = fs::path(parts_dir).filename().string();
  for (int q = 0; q < P; ++q) {
    files.push_back(folder + "/" + part_file(tag, q, P));
    users.push_back(counts[q][0].item<int64_t>());
    items.push_back(counts[q][1].item<int64_t>());
  }
  IndexSet index(o.out);
  if (!s.index.kind.empty()) {
    serve::ModelFile served;
    served.dim = dim;
    for (int q = 0; q < P; ++q) {
      serve::read_model_part_items((fs::path(parts_dir) / part_file(tag, q, P)).string(), dim,
                                   &served.item_ids, &served.item_vectors);
    }
    index.build(std::move(served), s.index, o.dtype, &m, r);
  }
  serve::write_model_index(m, tag, files, users, items, o.out);
  index.commit(m.index_file);
  remove_stale_parts(parts_dir, tag);
  r->cold_items = m.cold_items;
  r->cold_users = m.cold_users;
  r->bytes = static_cast<int64_t>(fs::file_size(o.out));
  for (int q = 0; q < P; ++q) {
    r->bytes += static_cast<int64_t>(fs::file_size(fs::path(parts_dir) / part_file(tag, q, P)));
  }
}

}  // namespace

ExportReport run_sharded_export(const ExportOptions& o, comm::Communicator& comm) {
  Stopwatch watch;
  const int P = comm.size();
  const int rank = comm.rank();
  if (o.interests) {
    HR_THROW(UsageError,
             "--interests with {} ranks: interests need every item vector in one process; export "
             "on one process (no mpirun) to store them, or run 'halorec interests --model M "
             "--dataset D' on this export",
             P);
  }
  const ExportStart s = start_export(o);
  const train::TrainConfig& c = s.config;
  const std::string parts_dir = o.out + ".parts";
  const std::optional<PathLock> lock = claim_outputs(o, s, rank);
  // Rank 0 logs the steps that take seconds.
  Phases phases("export", rank == 0 ? 2.0 : std::numeric_limits<double>::infinity());
  const data::DatasetInfo info = data::read_dataset_info(s.dataset);
  if (info.fingerprint != s.id.dataset_fingerprint) {
    HR_THROW(InputError, "checkpoint '{}' was trained on another dataset than '{}'", s.dir(),
             s.dataset);
  }
  train::TrainConfig pc = c;
  pc.dataset = s.dataset;
  pc.social = social_file_for(o, s);
  std::optional<TempPath> scratch;
  pc.parts = partition_folder(o, pc, comm, &scratch);
  const std::string parts = train::ensure_partition(pc, comm);
  phases.done("partition ready");
  const partition::PartitionMeta meta = partition::read_meta(parts, false);
  partition::check_partition_matches(meta, parts, s.dataset, info.fingerprint);
  partition::Shard shard = partition::read_shard(parts, rank, meta);
  const model::LocalGraph graph =
      model::make_local_graph(shard.num_owned() + shard.num_halo(), shard.indptr, shard.col,
                              shard.value, P == 1, false);
  std::vector<int64_t>().swap(shard.col);
  std::vector<float>().swap(shard.value);
  const comm::ExchangePlan halo = comm::make_exchange_plan(
      shard.send_index, shard.send_offsets, shard.recv_offsets, at::TensorOptions());
  const auto options = at::TensorOptions().dtype(at::kFloat);
  auto net = model::make_model(train::model_config(c),
                               {&graph, &halo, &comm, at::tensor(shard.owned, at::kLong)}, options);
  train::NodeFeatures features;
  if (!c.item_features.empty() || !c.user_features.empty()) {
    features = train::load_features(c, s.dataset);
    net = train::attach_content(std::move(net), c, features, shard.owned, shard.num_users,
                                options);
  }
  phases.done("read the shard and built the model");
  const checkpoint::Content content = checkpoint::load_checkpoint(s.dir(), shard.owned, s.id);
  phases.done("read the checkpoint");
  // Every rank reads the same file: all refuse together.
  if (filter_part_for(s, content.state, info.fingerprint)) {
    HR_THROW(UsageError, "checkpoint '{}' is a hybrid's (a graph filter beside the vectors, "
             "docs/hybrid.md): its model.h5 holds the filter's train rows and basis whole, so it "
             "exports from one process: run 'halorec export' without mpirun", s.dir());
  }
  at::NoGradGuard no_grad;
  const std::vector<at::Tensor> dense = load_dense(*net, content, s.dir());
  const at::Tensor final_vectors =
      model::scoring_vectors(net->forward(content.e0, 0, false), c.score == train::Score::kCosine)
          .contiguous();
  const int64_t dim = final_vectors.size(1);
  phases.done("ran the forward pass");

  int64_t cold[2] = {0, 0};  // items, users
  serve::ModelPart part = rows_of_shard(shard, final_vectors, s.dataset, rank == P - 1, features,
                                        c, dense, cold);
  if (!s.key.empty()) {
    // Pseudonyms, rows in pseudonym order within the part.
    serve::ModelFile rows;
    rows.dim = dim;
    rows.user_ids = std::move(part.user_ids);
    rows.user_vectors = std::move(part.user_vectors);
    pseudonymize_users(rows, s.key, cold[1]);
    part.user_ids = std::move(rows.user_ids);
    part.user_vectors = std::move(rows.user_vectors);
  }
  const std::string tag = comm::shared_random_hex(comm).substr(0, 8);
  serve::write_model_part(part, dim, o.dtype, tag, rank, P,
                          (fs::path(parts_dir) / part_file(tag, rank, P)).string());
  // Every part is written once every rank has its row counts.
  const at::Tensor counts =
      comm.all_gather_v(at::tensor({static_cast<int64_t>(part.user_ids.size()),
                                    static_cast<int64_t>(part.item_ids.size()), cold[0], cold[1]},
                                   at::kLong)
                            .view({1, 4})
                            .to(comm.device()))
          .cpu();
  ExportReport r;
  r.checkpoint = s.dir();
  r.out = o.out;
  r.users = info.num_users;
  r.items = info.num_items;
  r.dim = dim;
  phases.done("wrote the parts");
  if (rank == 0) commit_model(o, s, info.fingerprint, content.state, dim, tag, counts, &r);
  phases.done("committed the model");
  // model.h5 is committed when any rank returns. The others wait for as long
  // as rank 0 builds the index: no timeout here.
  std::optional<comm::UnlimitedWait> unlimited;
  if (!s.index.kind.empty()) unlimited.emplace(comm);
  const at::Tensor rss =
      comm.all_gather_v(at::tensor({static_cast<double>(peak_rss_bytes()) / (1 << 20)}, at::kDouble)
                            .to(comm.device()))
          .cpu();
  r.peak_rss_mib.assign(rss.data_ptr<double>(), rss.data_ptr<double>() + rss.numel());
  r.seconds = watch.seconds();
  return r;
}

}  // namespace halorec::exporting

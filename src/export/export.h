#pragma once
// `halorec export`: a checkpoint (any writer rank count) -> model.h5 with the
// final vectors the model scores with (after propagation), by original id.
// run_export runs in one process over the whole graph; run_sharded_export
// runs on every rank of a job over its shard, and each rank writes its own
// rows (serve/model_file.h: ModelPart, write_model_index). Both begin with
// start_export (export/start.h). The namespace is `exporting`: `export` is
// a C++ keyword.

#include <cstdint>
#include <string>
#include <vector>

#include "serve/ann_index.h"
#include "serve/interests.h"

namespace halorec::comm {
class Communicator;
}

namespace halorec::exporting {

struct ExportOptions {
  std::string checkpoint;  // a checkpoint, or a folder whose newest committed one is used
  std::string out;
  std::string dtype = "fp32";  // fp32 | fp16
  std::string dataset;         // default: the dataset in the checkpoint's config
  std::string social;          // default: data.social in the checkpoint's config
  bool interests = false;      // also store every user's interests (serve/interests.h)
  serve::InterestOptions interest_options;
  std::string pseudonymize_key_file;  // user ids -> HMAC-SHA256(key, id) when set
  bool allow_readable_key = false;    // accept a key file others can read
  std::string parts;  // sharded: partition folder (default: the run's data.parts)
  std::string index;  // flat | hnsw | ivfpq: also write NAME.TAG.faiss (serve/ann_index.h)
  serve::IndexOptions index_options;
};

struct ExportReport {
  std::string checkpoint;
  std::string out;
  int64_t users = 0, items = 0, dim = 0, bytes = 0;
  int64_t interests = 0;  // stored interests (0 without --interests)
  int64_t cold_items = 0;  // items with content features but no interactions
  int64_t cold_users = 0;  // users likewise
  double interest_seconds = 0;
  std::string index_file;  // NAME.TAG.faiss when written
  int64_t index_bytes = 0;
  double index_seconds = 0;
  double seconds = 0;
  std::vector<double> peak_rss_mib;  // of each rank (one process: one)
};

// One process, no MPI: the model runs through a one-rank LocalCommunicator.
ExportReport run_export(const ExportOptions& options);
// Collective over `comm` (P ranks): model.h5 plus OUT.parts/ with one part file
// per rank; the report's bytes (model.h5 and parts) on rank 0 only.
ExportReport run_sharded_export(const ExportOptions& options, comm::Communicator& comm);

}  // namespace halorec::exporting

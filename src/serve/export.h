#pragma once
// `halorec export`: a checkpoint (any writer rank count) -> model.h5 with the
// final vectors the model scores with (after propagation), by original id.
// Runs in one process over the whole graph.

#include <cstdint>
#include <string>

#include "serve/interests.h"

namespace halorec::serve {

struct ExportOptions {
  std::string checkpoint;  // a checkpoint, or a folder whose newest committed one is used
  std::string out;
  std::string dtype = "fp32";  // fp32 | fp16
  std::string dataset;         // default: the dataset in the checkpoint's config
  bool interests = false;      // also store every user's interests (serve/interests.h)
  InterestOptions interest_options;
  std::string pseudonymize_key_file;  // user ids -> HMAC-SHA256(key, id) when set
  bool allow_readable_key = false;    // accept a key file others can read
};

struct ExportReport {
  std::string checkpoint;
  std::string out;
  int64_t users = 0, items = 0, dim = 0, bytes = 0;
  int64_t interests = 0;  // stored interests (0 without --interests)
  int64_t cold_items = 0;  // items with content features but no interactions
  int64_t cold_users = 0;  // users likewise
  double interest_seconds = 0;
  double seconds = 0;
};

ExportReport run_export(const ExportOptions& options);

}  // namespace halorec::serve

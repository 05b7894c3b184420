#pragma once
// What both exports do first, so that a bad option, key file or checkpoint
// folder fails before any work: the options checked, the key read, the
// committed checkpoints listed and the newest one whose identity and config
// read picked, and the paths the output must not replace.

#include <cstddef>
#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "core/output_path.h"
#include "export/export.h"
#include "serve/ann_index.h"
#include "train/config.h"

namespace halorec::exporting {

struct ExportStart {
  std::string key;                     // "" without --pseudonymize
  std::vector<std::string> committed;  // newest first
  size_t pick = 0;                     // committed[pick]: the checkpoint below
  checkpoint::Identity id;
  train::TrainConfig config;           // the checkpoint's own
  std::string dataset;                 // --dataset, else the config's data.dataset
  serve::IndexOptions index;           // kind "" for no index; checked
  std::vector<NamedPath> inputs;       // what --out must never replace

  const std::string& dir() const { return committed[pick]; }
  // Moves to the next older committed checkpoint whose identity and config
  // read, naming the one skipped and why. Called in the handler of `why`,
  // which it rethrows when no older one is left.
  void skip(const std::exception& why);
};

ExportStart start_export(const ExportOptions& o);

// The social edges file of the checkpoint's graph (data.social, or --social
// in its place), checked against the fingerprint the checkpoint recorded; ""
// when the graph had none.
std::string social_file_for(const ExportOptions& o, const ExportStart& s);

}  // namespace halorec::exporting

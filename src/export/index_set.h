#pragma once
// model.h5 and its ANN index replaced as a set: the new index is written
// under a name of its own (serve/ann_index.h: NAME.TAG.faiss) and recorded in
// the model file about to be committed; it is removed again unless commit()
// runs after model.h5 is in place, and only then are the indexes the old
// model.h5 named removed.

#include <optional>
#include <string>

#include "core/temp_files.h"
#include "export/export.h"
#include "serve/ann_index.h"
#include "serve/model_file.h"

namespace halorec::exporting {

class IndexSet {
 public:
  explicit IndexSet(std::string out);  // reads the record of the model.h5 there now

  // Indexes `items` (item ids and vectors, model.h5's order; fp16 exports are
  // rounded as model.h5 stores them) and records the index in `m` and `r`.
  void build(serve::ModelFile items, const serve::IndexOptions& options,
             const std::string& dtype, serve::ModelFile* m, ExportReport* r);
  // After model.h5 (naming `kept`, "" when it has no index) is committed.
  void commit(const std::string& kept);

 private:
  std::string out_;
  serve::IndexRecord old_;
  std::optional<TempPath> new_;
};

}  // namespace halorec::exporting

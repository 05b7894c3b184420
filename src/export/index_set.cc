#include "export/index_set.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <utility>

namespace halorec::exporting {

IndexSet::IndexSet(std::string out)
    : out_(std::move(out)), old_(serve::read_index_record(out_)) {}

void IndexSet::build(serve::ModelFile items, const serve::IndexOptions& options,
                     const std::string& dtype, serve::ModelFile* m, ExportReport* r) {
  if (dtype == "fp16") {
    const at::Tensor v = at::from_blob(items.item_vectors.data(),
                                       {static_cast<int64_t>(items.item_vectors.size())},
                                       at::kFloat);
    v.copy_(v.to(at::kHalf).to(at::kFloat));
  }
  const std::string path = serve::new_index_path(out_);
  const serve::IndexReport ir = serve::build_index(items, options, path);
  new_.emplace(path);  // removed again unless model.h5 commits naming it
  m->index_file = std::filesystem::path(path).filename().string();
  m->index_kind = ir.kind;
  m->index_sha256 = ir.sha256;
  m->index_bytes = ir.bytes;
  r->index_file = path;
  r->index_bytes = ir.bytes;
  r->index_seconds = ir.seconds;
}

void IndexSet::commit(const std::string& kept) {
  if (new_) new_->release();
  serve::remove_replaced_indexes(out_, old_, kept);
}

}  // namespace halorec::exporting

#pragma once
// Approximate nearest-neighbour retrieval over a model's item vectors with
// FAISS (docs/formats.md, "NAME.TAG.faiss"). The index holds the item rows of
// model.h5 in their stored order: FAISS label r is model.h5's item row r, so
// items/original_id is the label -> item id map. Scores are inner products of
// the stored vectors, which is how every HaloRec model scores (a cosine
// model's vectors are stored unit length).
//
// Kinds:
//   flat   exact inner-product scan (IndexFlatIP): the reference
//   hnsw   graph search (IndexHNSWFlat): m links per node, ef_construction
//          when building, ef_search (at least k) when searching
//   ivfpq  inverted lists over nlist centroids, product-quantized codes of
//          pq_m bytes per item (IndexIVFPQ, 8 bits per code); nprobe lists
//          searched

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "serve/model_file.h"

namespace halorec::serve {

struct IndexOptions {
  std::string kind = "flat";  // flat | hnsw | ivfpq
  int64_t m = 32;             // hnsw: links per node
  int64_t ef_construction = 200;
  int64_t ef_search = 128;
  int64_t nlist = 0;   // ivfpq: 0 = 4 sqrt(items), at most items / 39
  int64_t pq_m = 0;    // ivfpq: 0 = dim / 4 (must divide dim)
  int64_t nprobe = 32;
};

// Whether this build has FAISS (CMake found it); require_faiss throws a
// UsageError saying how to get it where not.
bool faiss_available();
void require_faiss();

// "key=value,key=value" (m, ef_construction, ef_search, nlist, pq_m, nprobe)
// into `o`; UsageError naming the key for an unknown key or a bad value.
void parse_index_params(const std::string& text, IndexOptions* o);
// UsageError naming the option when the kind or a value is out of range
// (m 2..256; ef_construction, ef_search 1..65536; nlist 0..2^24; pq_m
// 0..4096; nprobe 1..2^24).
void check_index_options(const IndexOptions& o);

// A new file name for the index of `model_path` (NAME.h5): NAME.TAG.faiss
// beside it, TAG eight random hex digits. An index is written under a name
// of its own and model.h5 is then committed naming it, so a model and its
// index are replaced together: a crash leaves the old pair or the new one.
std::string new_index_path(const std::string& model_path);
// Whether `path` is an index of a kind HaloRec writes (its FAISS type tag).
bool is_index_file(const std::string& path);

// After model.h5 was committed naming `kept_file` (a file name, "" for no
// index): removes the index the model named before (`old`, read by
// read_index_record before the commit) when it is HaloRec's (its bytes have
// the recorded digest), and NAME.TAG.faiss files beside it that an
// interrupted export left (HaloRec index files it does not name). Anything
// else, a user's own NAME.faiss included, is left alone.
struct IndexRecord {
  std::string file, sha256;
  int64_t bytes = 0;
};
IndexRecord read_index_record(const std::string& model_path);  // empty when none; never throws
void remove_replaced_indexes(const std::string& model_path, const IndexRecord& old,
                             const std::string& kept_file);

struct IndexReport {
  std::string kind;
  int64_t items = 0;
  int64_t bytes = 0;
  double seconds = 0;  // training (ivfpq) and adding
  std::string sha256;  // of the file's bytes
  std::string path;    // where it was written
};

// Builds the index over m's item rows and writes it to `path` (staged).
IndexReport build_index(const ModelFile& m, const IndexOptions& o, const std::string& path);

// Builds the index of an existing model.h5 (one file, or a sharded export's
// model.h5 and parts) into a new NAME.TAG.faiss beside it, records it in
// model.h5 (record_model_index), then removes the index it replaced.
// Callers hold the model's lock (core/path_lock.h).
IndexReport index_model(const std::string& model_path, const IndexOptions& o);

// An index opened for a model: read_model_file's model, checked against the
// digest and counts model.h5 recorded when the export wrote both.
class AnnIndex {
 public:
  // InputError naming the file when it is missing, not the one the model
  // names (digest), or not an index HaloRec writes over the model's items
  // (serve/index_check.h: checked before FAISS reads a byte of it).
  static std::unique_ptr<AnnIndex> open(const ModelFile& m, const std::string& model_path);
  ~AnnIndex();
  AnnIndex(const AnnIndex&) = delete;
  AnnIndex& operator=(const AnnIndex&) = delete;

  // Search-time settings (ef_search, nprobe) from `o`.
  void configure(const IndexOptions& o);
  // For each of the n query rows (row-major [n, dim]), the k best item rows
  // (model.h5's stored order) and scores, best first; -1 / -inf where the
  // index returns fewer.
  void search(const float* queries, int64_t n, int64_t k, std::vector<int64_t>* rows,
              std::vector<float>* scores) const;
  const std::string& kind() const { return kind_; }
  const std::string& path() const { return path_; }

 private:
  AnnIndex() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string kind_, path_;
};

}  // namespace halorec::serve

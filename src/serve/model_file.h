#pragma once
// model.h5, the serving export (docs/formats.md): final user and item
// vectors with their original ids, and model metadata.

#include <cstdint>
#include <string>
#include <vector>

#include "data/item_names.h"

#include "model/graph_filter.h"
#include "serve/interests.h"

namespace halorec::serve {

inline constexpr const char* kModelFormat = "halorec.model";
inline constexpr int64_t kModelFormatVersion = 1;

struct ModelFile {
  std::vector<std::string> user_ids, item_ids;
  std::vector<float> user_vectors, item_vectors;  // row-major [n, dim]
  int64_t dim = 0;
  std::string model_type;
  // How the model scores: "dot", or "cosine" (the vectors are stored unit
  // length, so the dot product of stored vectors is the score either way).
  std::string score = "dot";
  int64_t layers = 0;
  std::string dataset_fingerprint;
  // Where export found that dataset (absolute; "" in files from before it
  // was recorded): recommend reads it to leave out each user's seen items
  // when no --dataset is given.
  std::string dataset_path;
  int64_t step = 0;
  std::string metrics_json = "{}";
  std::string dtype = "fp32";
  std::string checkpoint;
  // "original", or "hmac-sha256": user ids are HMAC-SHA256(key, original id)
  // in hex; key_check = HMAC-SHA256(key, "halorec key check") tells a wrong
  // key from an unknown user without revealing the key.
  std::string user_id_scheme = "original";
  std::string key_check;
  InterestTable interests;  // empty unless exported with --interests
  // The dataset's item names (prepare --item-names), cold items' included;
  // empty: none. Keyed by original id, so row order does not matter.
  data::ItemNames item_names;
  // The last cold_items items have content features but no interactions
  // (cold-start): their vectors come from the content encoder alone.
  int64_t cold_items = 0;
  int64_t cold_users = 0;  // likewise the last cold_users users
  // An ANN index written beside model.h5 by `export --index` (ann_index.h):
  // its file name (in model.h5's folder), kind, size and SHA-256; empty
  // without one. FAISS label r is stored item row r.
  std::string index_file, index_kind, index_sha256;
  int64_t index_bytes = 0;
  // For each item row, its row in the file (reorder_items keeps it; empty:
  // the file's order), so index labels map to rows after alignment.
  std::vector<int64_t> item_file_row;
  // Fold-in (recommend --history, docs/living.md): LightGCN exports keep the
  // items' propagation layers h_0 .. h_{L-1} ([layers][items][dim], file
  // item order), the items' weighted train degrees and the users' layer-0
  // vectors; empty when the export has none (other models, content
  // features, sharded exports).
  int64_t fold_layers = 0;
  std::vector<float> fold_item_layers;
  std::vector<double> fold_item_degree;
  std::vector<float> fold_user_layer0;
  // With social edges (data.social, social_weight > 0): the users' layers
  // h_0 .. h_{L-1} ([layers][users][dim], file user order), their social
  // degrees S, the relation's weight and the mean weight of a social edge
  // (a friend's edge weight at fold-in: 2 where the file names each pair
  // both ways), so a history folds in with friends (recommend --friends);
  // empty otherwise.
  std::vector<float> fold_user_layers;
  std::vector<double> fold_social_degree;
  double fold_social_weight = 0;
  double fold_social_edge_weight = 1;
  // A graph filter (`baseline --out` for gfcf, bspm, chebycf): its settings,
  // every user row's train items (CSR over item rows, binary), the items'
  // train counts n_i and the low-pass basis V [items, filter_rank]; the
  // vectors above hold its ideal low-pass term, and scores come from the
  // filter (model/graph_filter.h). Empty filter.kind: not a filter.
  model::FilterSettings filter;
  std::vector<int64_t> filter_indptr, filter_items;
  std::vector<double> filter_item_counts;
  std::vector<float> filter_basis;
  int64_t filter_rank = 0;
  // A hybrid (train's model.filter): 0 < filter_mix <= 1, the vectors above
  // are the trained model's, and a user's scores are
  // model::mix_scores(filter's, vectors', filter_mix). 0: the filter alone.
  double filter_mix = 0;
  bool is_filter() const { return !filter.kind.empty(); }
  bool is_hybrid() const { return is_filter() && filter_mix > 0; }
};

// The filter part of a trained hybrid, as train leaves it beside the run's
// checkpoints (<checkpoint root>/filter.h5; docs/formats.md): the filter's
// settings, item counts and basis, fitted on all of train, the mix chosen on
// validation, and the training step (checkpoint) and dataset it goes with.
// `export` adds the dataset's train rows and the checkpoint's vectors.
inline constexpr const char* kFilterPartFormat = "halorec.filter-part";
struct FilterPart {
  model::FilterSettings settings;
  int64_t rank = 0;
  std::vector<double> item_counts;
  std::vector<float> basis;  // [items, rank]
  double mix = 0;
  int64_t step = 0;
  std::string dataset_fingerprint;
  std::string metrics_json = "{}";  // the hybrid's test and validation numbers
};
void write_filter_part(const FilterPart& p, const std::string& path);  // staged
// Validated as model.h5's filter group is: InputError naming the file.
FilterPart read_filter_part(const std::string& path);

inline constexpr const char* kKeyCheckMessage = "halorec key check";

void write_model_file(const ModelFile& m, const std::string& path);  // staged

// A model exported by P ranks (`mpirun -np P halorec export`): each rank
// writes its rows to a part file, and model.h5 joins them with HDF5 virtual
// datasets, so no process ever holds the whole model and every reader
// (read_model_file, h5py) sees one model.h5 (docs/formats.md).
inline constexpr const char* kModelPartFormat = "halorec.model-part";
struct ModelPart {
  std::vector<std::string> user_ids, item_ids;
  std::vector<float> user_vectors, item_vectors;  // row-major [n, dim]
};
// Staged. `tag` names the export the part belongs to.
void write_model_part(const ModelPart& part, int64_t dim, const std::string& dtype,
                      const std::string& tag, int rank, int ranks, const std::string& path);
// Appends the item rows of a part file (ids and vectors, as stored: fp16
// rounds) to `ids` and `vectors`; InputError naming the file when it is not
// a part of dimension `dim`.
void read_model_part_items(const std::string& path, int64_t dim, std::vector<std::string>* ids,
                           std::vector<float>* vectors);
// Staged: model.h5 with `m`'s attributes (its ids and vectors are ignored)
// and users/ and items/ joining the parts in order. `part_files` are stored
// relative to model.h5's folder; part k has users[k] users and items[k] items.
void write_model_index(const ModelFile& m, const std::string& tag,
                       const std::vector<std::string>& part_files,
                       const std::vector<int64_t>& users, const std::vector<int64_t>& items,
                       const std::string& path);
// Validates everything it reads (shapes, finite vectors, interest offsets
// and rows in range): InputError naming the file and what is wrong.
ModelFile read_model_file(const std::string& path);

// Records (or replaces) the ANN index an existing model.h5 names: m's
// index_file, index_kind, index_sha256, index_bytes. Staged: a copy of
// model.h5 is changed and renamed over it (a sharded model.h5's parts are
// untouched: its links are relative to its folder).
void record_model_index(const std::string& path, const ModelFile& m);
// Reorders the user rows: new row r is old row order[r] (ids, vectors and
// interests; a permutation of all rows).
void reorder_users(ModelFile& m, const std::vector<int64_t>& order);
// Likewise the item rows (ids, vectors; the interests' item rows follow).
void reorder_items(ModelFile& m, const std::vector<int64_t>& order);

// Whether `path` is an existing model.h5 (the output rule's probe).
bool is_model_file(const std::string& path);

}  // namespace halorec::serve

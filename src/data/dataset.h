#pragma once
// The prepared dataset (dataset.h5, layout in docs/formats.md): original ids,
// train and test interactions over dense ids sorted by (user, item), with
// weights and optional times, plus planted communities for synthetic data.

#include <cstdint>
#include <string>
#include <vector>

#include "data/interactions.h"
#include "data/item_names.h"

namespace halorec::data {

inline constexpr const char* kDatasetFormat = "halorec.dataset";
inline constexpr int64_t kDatasetFormatVersion = 1;

struct Dataset {
  std::vector<std::string> user_ids;  // original id of each dense user id
  std::vector<std::string> item_ids;  // original id of each dense item id
  Interactions train;
  Interactions test;
  std::string split = "none";
  uint64_t seed = 0;
  std::string source;
  // prepare --append-to: the fingerprint of the dataset this one grew from.
  std::string parent_fingerprint;
  // Planted interest communities (synthetic data only; empty otherwise).
  std::vector<int32_t> user_community;
  std::vector<int32_t> item_community;
  // prepare --item-names: names of the dataset's items and its cold items
  // (not in the fingerprint: docs/formats.md).
  ItemNames item_names;
  // prepare --cold-items: items held out of train entirely, by original id,
  // and their interactions (dense user id; item = index into cold_item_ids),
  // sorted by (user, item). The cold items are not among item_ids: a model
  // sees them only through content features (data.item_features rows of ids
  // the dataset lacks), and evaluation ranks them apart (serve/evaluate.h).
  std::vector<std::string> cold_item_ids;
  Interactions cold_test;

  int64_t num_users() const { return static_cast<int64_t>(user_ids.size()); }
  int64_t num_items() const { return static_cast<int64_t>(item_ids.size()); }
  // SHA-256 over ids and interactions: partitions and checkpoints record it
  // to detect that they were made from other data.
  std::string fingerprint() const;
};

// The header of a dataset file, without its arrays.
struct DatasetInfo {
  std::string path;
  int64_t num_users = 0;
  int64_t num_items = 0;
  int64_t num_train = 0;
  int64_t num_test = 0;
  std::string fingerprint;
  std::string split;
  std::string source;
  std::string prepare_report;  // JSON text
  std::string parent_fingerprint;  // prepare --append-to; empty otherwise
};

// Writes atomically (temporary file, then rename): a failed write leaves no
// file, and an existing file survives. `report_json` is stored as an
// attribute; `fingerprint` is d.fingerprint(), computed once by the caller.
void write_dataset(const Dataset& d, const std::string& path, const std::string& report_json,
                   const std::string& fingerprint);
Dataset read_dataset(const std::string& path);
DatasetInfo read_dataset_info(const std::string& path);
// The original ids of the dense ids `ids` (ascending; users are 0..U-1, items
// U..U+I-1), reading only those rows of the id tables.
std::vector<std::string> read_original_ids(const std::string& path, const std::vector<int64_t>& ids,
                                           int64_t num_users);
// The item names of dataset.h5 `path` alone (empty without any).
ItemNames read_dataset_item_names(const std::string& path);
// Whether `path` is an existing dataset.h5 (the output rule's probe: only a
// dataset may be replaced by a dataset).
bool is_dataset_file(const std::string& path);

}  // namespace halorec::data

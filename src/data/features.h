#pragma once
// Item content vectors (e.g. a sentence encoder's embeddings of titles) for
// `data.item_features`: an HDF5 file with `vectors` (rows x dim, float or
// double) and `ids` (variable-length strings or integers, one per row), or a
// .npy matrix (little-endian float32/float64, C order) with its ids in a
// text file, one per line. Rows are matched to the dataset's items by
// original id. Wrong shapes, duplicate ids and missing rows are InputErrors
// that name the file (missing rows may instead be zero-filled on request).

#include <cstdint>
#include <string>
#include <vector>

namespace halorec::data {

struct ItemFeatures {
  int64_t dim = 0;
  std::vector<float> rows;    // dataset items x dim, in dense item order
  std::vector<char> present;  // per dataset item: had a feature row
  int64_t missing = 0;        // dataset items without a row (zero-filled)
  // Feature rows of ids the dataset does not have: cold-start items, with
  // content but no interactions.
  std::vector<std::string> cold_ids;
  std::vector<float> cold_rows;  // cold items x dim
};

// The default ids file of a .npy features file: NAME.npy -> NAME.ids.
std::string default_feature_ids_path(const std::string& features_path);

// `ids_path` is used for .npy only (empty: the default). With
// `missing_is_error`, a dataset item without a row is an InputError listing
// the first few; with `unknown_is_error`, so is a row whose id is not a
// dataset item (else it becomes a cold-start item).
ItemFeatures read_item_features(const std::string& path, const std::string& ids_path,
                                const std::vector<std::string>& item_ids, bool missing_is_error,
                                bool unknown_is_error = true);

// Writers, for tests and tools: the same two formats.
void write_item_features_h5(const std::string& path, const std::vector<std::string>& ids,
                            const std::vector<float>& rows, int64_t dim);

}  // namespace halorec::data

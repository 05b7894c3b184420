#pragma once
// Content vectors of items (e.g. a sentence encoder's embeddings of titles)
// or users, for `data.item_features` / `data.user_features`: an HDF5 file
// with `vectors` (rows x dim, float or double) and `ids` (variable-length
// strings or integers, one per row), or a .npy matrix (little-endian
// float32/float64, C order) with its ids in a text file, one per line. Rows
// are matched to the dataset's items (or users) by original id. Wrong shapes,
// duplicate ids, unknown ids and missing rows are InputErrors that name the
// file (missing rows may be zero-filled, unknown ids kept as cold-start
// entries, on request).

#include <cstdint>
#include <string>
#include <vector>

namespace halorec::data {

struct Features {
  int64_t dim = 0;
  std::vector<float> rows;    // dataset ids x dim, in dense id order
  std::vector<char> present;  // per dataset id: had a feature row
  int64_t missing = 0;        // dataset ids without a row (zero-filled)
  // Feature rows of ids the dataset does not have: cold-start items (users),
  // with content but no interactions.
  std::vector<std::string> cold_ids;
  std::vector<float> cold_rows;  // cold ids x dim
};

// The default ids file of a .npy features file: NAME.npy -> NAME.ids.
std::string default_feature_ids_path(const std::string& features_path);

// Rows of `path` matched to `ids` (the dataset's original item or user ids;
// `what` names them in messages). `ids_path` is used for .npy only (empty:
// the default). With `missing_is_error`, an id without a row is an
// InputError listing the first few; with `unknown_is_error`, so is a row
// whose id is not in `ids` (else it becomes a cold-start entry).
Features read_features(const std::string& path, const std::string& ids_path,
                       const std::vector<std::string>& ids, const std::string& what,
                       bool missing_is_error, bool unknown_is_error = true);

// The HDF5 format, for tests and tools.
void write_features_h5(const std::string& path, const std::vector<std::string>& ids,
                       const std::vector<float>& rows, int64_t dim);

}  // namespace halorec::data

#pragma once
// A model.h5 next to its dataset: checking they belong together, putting the
// model's rows in the dataset's order, and finding users' rows by id.

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "serve/model_file.h"

namespace halorec::serve {

// InputError unless `d` is the dataset the model was trained on.
void check_model_dataset(const ModelFile& model, const data::Dataset& d);

// Before a model is used with its dataset (--exclude-seen, evaluate,
// interests): its rows are put in the dataset's order, cold-start ones after.
// A model exported by several ranks stores each rank's rows together; a
// pseudonymized one stores its users in pseudonym order, matched to the
// dataset's users by recomputing each one's pseudonym under `key` (UsageError
// without it). InputError when a dataset user or item has no row.
void align_to_dataset(ModelFile& model, const data::Dataset& d, const std::string& key);

// The model's user row of each id. For a pseudonymized model `key` (the
// export's key) turns raw ids into their pseudonyms; a wrong key is told apart
// from an unknown user. InputError naming the first unknown user id; with
// `unknown`, unknown ids are appended there instead and have no row (the
// rows are those of the known users, in order).
std::vector<int64_t> user_rows_of(const ModelFile& model, const std::vector<std::string>& users,
                                  const std::string& key,
                                  std::vector<std::string>* unknown = nullptr);

// The dataset export recorded (ModelFile::dataset_path) when it is still
// there and unchanged (same fingerprint); else "" with the reason in *why.
std::string model_dataset(const ModelFile& model, std::string* why);

}  // namespace halorec::serve

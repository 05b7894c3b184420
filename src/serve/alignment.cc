#include "serve/alignment.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <unordered_map>

#include <fmt/format.h>

#include "core/check.h"
#include "core/digest.h"
#include "core/quote.h"

namespace halorec::serve {

void check_model_dataset(const ModelFile& m, const data::Dataset& d) {
  // The model's users and items: the dataset's, then its cold-start ones.
  const bool users_match =
      m.user_ids.size() == d.user_ids.size() + static_cast<size_t>(m.cold_users) &&
      (m.user_id_scheme != "original" ||
       std::equal(d.user_ids.begin(), d.user_ids.end(), m.user_ids.begin()));
  const bool items_match =
      m.item_ids.size() == d.item_ids.size() + static_cast<size_t>(m.cold_items) &&
      std::equal(d.item_ids.begin(), d.item_ids.end(), m.item_ids.begin());
  if (d.fingerprint() != m.dataset_fingerprint || !users_match || !items_match) {
    HR_THROW(InputError,
             "the dataset is not the one the model was trained on (fingerprint {}..., "
             "model's {}...)",
             d.fingerprint().substr(0, 12), m.dataset_fingerprint.substr(0, 12));
  }
}

namespace {

// The row order that puts a model's rows (ids `model_ids`) in the dataset's
// order: the row of each dataset id (as `as_stored` writes it in the model),
// then the rows no dataset id took (cold-start), in their order.
std::vector<int64_t> dataset_order(const std::vector<std::string>& model_ids,
                                   const std::vector<std::string>& dataset_ids, const char* kind,
                                   const std::function<std::string(const std::string&)>& as_stored) {
  std::unordered_map<std::string, int64_t> row_of;
  row_of.reserve(model_ids.size());
  for (size_t r = 0; r < model_ids.size(); ++r) {
    row_of.emplace(model_ids[r], static_cast<int64_t>(r));
  }
  std::vector<int64_t> order;
  order.reserve(model_ids.size());
  std::vector<char> used(model_ids.size(), 0);
  for (const std::string& id : dataset_ids) {
    const auto it = row_of.find(as_stored(id));
    if (it == row_of.end() || used[static_cast<size_t>(it->second)]) {
      HR_THROW(InputError,
               "the dataset's {} '{}' has no row in the model: not the dataset this model was "
               "exported from",
               kind, quote(id));
    }
    used[static_cast<size_t>(it->second)] = 1;
    order.push_back(it->second);
  }
  for (size_t r = 0; r < used.size(); ++r) {
    if (!used[r]) order.push_back(static_cast<int64_t>(r));
  }
  return order;
}

bool in_dataset_order(const std::vector<std::string>& model_ids,
                      const std::vector<std::string>& dataset_ids) {
  return model_ids.size() >= dataset_ids.size() &&
         std::equal(dataset_ids.begin(), dataset_ids.end(), model_ids.begin());
}

}  // namespace

void align_to_dataset(ModelFile& m, const data::Dataset& d, const std::string& key) {
  const auto same = [](const std::string& id) { return id; };
  if (!in_dataset_order(m.item_ids, d.item_ids) &&
      m.item_ids.size() == d.item_ids.size() + static_cast<size_t>(m.cold_items)) {
    reorder_items(m, dataset_order(m.item_ids, d.item_ids, "item", same));
  }
  if (m.user_id_scheme == "original") {
    if (!in_dataset_order(m.user_ids, d.user_ids) &&
        m.user_ids.size() == d.user_ids.size() + static_cast<size_t>(m.cold_users)) {
      reorder_users(m, dataset_order(m.user_ids, d.user_ids, "user", same));
    }
    return;
  }
  if (key.empty()) {
    HR_THROW(UsageError,
             "the model's user ids are pseudonymized and its rows carry no dataset "
             "order: give the export's --key KEY_FILE to use it with a dataset");
  }
  // Checks the scheme and the key.
  user_rows_of(m, {}, key);
  if (m.user_ids.size() != d.user_ids.size() + static_cast<size_t>(m.cold_users)) {
    check_model_dataset(m, d);  // names the mismatch
  }
  // Cold users keep their (pseudonym) order after the dataset's.
  reorder_users(m, dataset_order(m.user_ids, d.user_ids, "user",
                                 [&](const std::string& u) { return hmac_sha256_hex(key, u); }));
}

std::vector<int64_t> user_rows_of(const ModelFile& m, const std::vector<std::string>& users,
                                  const std::string& key, std::vector<std::string>* unknown) {
  const bool pseudonyms = m.user_id_scheme != "original";
  if (pseudonyms && m.user_id_scheme != "hmac-sha256") {
    HR_THROW(InputError, "the model's user ids are '{}', which this HaloRec cannot read",
             m.user_id_scheme);
  }
  if (pseudonyms && key.empty()) {
    HR_THROW(UsageError,
             "the model's user ids are pseudonymized: give the export's --key KEY_FILE");
  }
  if (pseudonyms && hmac_sha256_hex(key, kKeyCheckMessage) != m.key_check) {
    HR_THROW(InputError, "--key: not the key this model was exported with (key check differs)");
  }
  if (!pseudonyms && !key.empty()) {
    HR_THROW(UsageError, "--key given, but the model's user ids are not pseudonymized");
  }
  std::unordered_map<std::string, int64_t> row_of;
  row_of.reserve(m.user_ids.size());
  for (size_t r = 0; r < m.user_ids.size(); ++r)
    row_of.emplace(m.user_ids[r], static_cast<int64_t>(r));
  std::vector<int64_t> rows;
  for (const std::string& u : users) {
    const auto it = row_of.find(pseudonyms ? hmac_sha256_hex(key, u) : u);
    if (it == row_of.end()) {
      if (unknown == nullptr) HR_THROW(InputError, "user '{}' is not in the model", quote(u));
      unknown->push_back(u);
      continue;
    }
    rows.push_back(it->second);
  }
  return rows;
}

std::string model_dataset(const ModelFile& m, std::string* why) {
  if (m.dataset_path.empty()) {
    *why = "the model does not record its dataset (an export from before HaloRec recorded it)";
    return "";
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(m.dataset_path, ec)) {
    *why = fmt::format("its dataset '{}' is not there any more", m.dataset_path);
    return "";
  }
  try {
    const data::DatasetInfo info = data::read_dataset_info(m.dataset_path);
    if (info.fingerprint != m.dataset_fingerprint) {
      *why = fmt::format("'{}' has changed since the export (fingerprint {}..., the model's {}...)",
                         m.dataset_path, info.fingerprint.substr(0, 12),
                         m.dataset_fingerprint.substr(0, 12));
      return "";
    }
  } catch (const std::exception& e) {
    *why = fmt::format("its dataset cannot be read: {}", e.what());
    return "";
  }
  return m.dataset_path;
}

}  // namespace halorec::serve

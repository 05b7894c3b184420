#pragma once
// Item names (`prepare --item-names FILE`): a delimited file of original item
// id and display name per line, kept in dataset.h5 and model.h5 and printed
// beside the ids by recommend, interests and evaluate. Names are metadata:
// they are not part of the dataset's fingerprint, so renaming items
// invalidates no partition, checkpoint or export.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace halorec::data {

// (original item id, name), sorted by id, ids unique.
using ItemNames = std::vector<std::pair<std::string, std::string>>;

struct ItemNamesFormat {
  char sep = '\t';
  bool header = false;  // the first line names the columns (skipped)
  int id_col = 0;
  int name_col = 1;
};

struct ItemNamesRead {
  ItemNames names;   // every id of the file
  int64_t lines = 0;  // data lines (without the header and blank lines)
};

// Reads `path`. Tab-separated fields are verbatim (quotes are part of the
// name); with another separator, CSV's double quotes are understood. InputError "path:line: ..." on a line without the name
// column, an empty id or name, a name with a control character, or an id
// given twice (naming both lines).
ItemNamesRead read_item_names(const std::string& path, const ItemNamesFormat& format);

// The names of `ids` (the rest left out), sorted by id.
ItemNames names_of(const ItemNames& all, const std::vector<std::string>& ids);

// id -> name.
std::unordered_map<std::string, std::string> name_map(const ItemNames& names);

}  // namespace halorec::data

#pragma once
// Item names (`prepare --item-names FILE`): a delimited file of original item
// id and display name per line, kept in dataset.h5 and model.h5 and printed
// beside the ids by recommend and interests. Names are metadata:
// they are not part of the dataset's fingerprint, so renaming items
// invalidates no partition, checkpoint or export.

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

// Every name of `path`. Tab-separated fields are verbatim (quotes are part
// of the name); with another separator, CSV's double quotes are understood.
// InputError "path:line: ..." on a line without the name column, an empty id
// or name, a name with a control character, or an id given twice (naming
// both lines).
ItemNames read_item_names(const std::string& path, const ItemNamesFormat& format);

// The names of `ids` (the rest left out), sorted by id.
ItemNames names_of(const ItemNames& all, const std::vector<std::string>& ids);

// Names by id, for the commands that print them.
class ItemNameIndex {
 public:
  ItemNameIndex() = default;
  explicit ItemNameIndex(const ItemNames& names);
  bool empty() const { return by_id_.empty(); }
  // The name of `id`, or null.
  const std::string* find(const std::string& id) const;

 private:
  std::unordered_map<std::string, std::string> by_id_;
};

}  // namespace halorec::data

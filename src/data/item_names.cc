#include "data/item_names.h"

#include <algorithm>
#include <unordered_set>

#include "core/check.h"
#include "core/quote.h"
#include "data/delimited_reader.h"
#include "data/item_names_h5.h"
#include "data/line_reader.h"

namespace halorec::data {

ItemNames read_item_names(const std::string& path, const ItemNamesFormat& format) {
  LineReader reader(path);
  ItemNames out;
  std::unordered_map<std::string, int64_t> line_of;  // id -> its line
  std::vector<std::string_view> fields;
  std::vector<std::string> storage;
  std::string error;
  std::string_view line;
  const size_t need = static_cast<size_t>(std::max(format.id_col, format.name_col)) + 1;
  bool first = true;
  while (reader.next(&line)) {
    const int64_t at = reader.line_number();
    if (first && format.header) {
      first = false;
      continue;
    }
    first = false;
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    // Tab-separated names are taken verbatim (TSV has no quoting: '"Weird Al"
    // Yankovic' is a name); other separators understand CSV's quotes.
    if (format.sep == '\t') {
      fields.clear();
      size_t start = 0;
      for (size_t tab = line.find('\t'); tab != std::string_view::npos;
           start = tab + 1, tab = line.find('\t', start)) {
        fields.push_back(line.substr(start, tab - start));
      }
      fields.push_back(line.substr(start));
    } else if (!split_fields(line, format.sep, &fields, &storage, &error)) {
      HR_THROW(InputError, "{}:{}: {}", path, at, error);
    }
    if (fields.size() < need) {
      HR_THROW(InputError,
               "{}:{}: {} field(s), expected an id in column {} and a name in column {} "
               "(separator {})",
               path, at, fields.size(), format.id_col, format.name_col,
               format.sep == '\t' ? std::string("tab") : quote(std::string(1, format.sep)));
    }
    const std::string id(fields[static_cast<size_t>(format.id_col)]);
    const std::string name(fields[static_cast<size_t>(format.name_col)]);
    if (id.empty()) HR_THROW(InputError, "{}:{}: empty item id", path, at);
    if (name.find_first_not_of(' ') == std::string::npos) {
      HR_THROW(InputError, "{}:{}: item '{}' has an empty name", path, at, quote(id));
    }
    for (const char c : name) {
      if (static_cast<unsigned char>(c) < 0x20) {
        HR_THROW(InputError, "{}:{}: the name of item '{}' has a control character (0x{:02x})",
                 path, at, quote(id), static_cast<int>(c));
      }
    }
    const auto [it, added] = line_of.emplace(id, at);
    if (!added) {
      HR_THROW(InputError, "{}:{}: item '{}' is named again (first on line {})", path, at,
               quote(id), it->second);
    }
    out.emplace_back(id, name);
  }
  if (out.empty()) HR_THROW(InputError, "{}: no item names in the file", path);
  std::sort(out.begin(), out.end());
  return out;
}

ItemNames names_of(const ItemNames& all, const std::vector<std::string>& ids) {
  const std::unordered_set<std::string> wanted(ids.begin(), ids.end());
  ItemNames out;
  for (const auto& entry : all) {
    if (wanted.count(entry.first) > 0) out.push_back(entry);
  }
  return out;
}

ItemNameIndex::ItemNameIndex(const ItemNames& names) {
  by_id_.reserve(names.size());
  for (const auto& [id, name] : names) by_id_.emplace(id, name);
}

const std::string* ItemNameIndex::find(const std::string& id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

void write_item_names(hid_t group, const ItemNames& names) {
  h5::Handle g = h5::create_group(group, "item_names");
  std::vector<std::string> ids, values;
  ids.reserve(names.size());
  values.reserve(names.size());
  for (const auto& [id, name] : names) {
    ids.push_back(id);
    values.push_back(name);
  }
  h5::write_strings(g.get(), "original_id", ids);
  h5::write_strings(g.get(), "name", values);
}

ItemNames read_item_names_group(hid_t group, const std::string& path) {
  h5::Handle g = h5::open_group(group, "item_names");
  std::vector<std::string> ids = h5::read_strings(g.get(), "original_id");
  std::vector<std::string> values = h5::read_strings(g.get(), "name");
  if (ids.size() != values.size()) {
    HR_THROW(InputError, "'{}': item_names has {} ids and {} names", path, ids.size(),
             values.size());
  }
  ItemNames names;
  names.reserve(ids.size());
  for (size_t r = 0; r < ids.size(); ++r) names.emplace_back(std::move(ids[r]), std::move(values[r]));
  return names;
}

}  // namespace halorec::data

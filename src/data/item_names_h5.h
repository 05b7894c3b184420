#pragma once
// The `item_names` group (original_id, name) of dataset.h5 and model.h5.

#include <string>

#include "data/item_names.h"
#include "h5/file.h"

namespace halorec::data {

void write_item_names(hid_t group, const ItemNames& names);
// InputError naming `path` when the two arrays differ in length.
ItemNames read_item_names_group(hid_t group, const std::string& path);

}  // namespace halorec::data

#pragma once
// LightGCN text format: one line per user, "user item item ...", integer ids
// separated by spaces or tabs.

#include <string>

#include "data/read_context.h"

namespace halorec::data {

void read_lightgcn(const std::string& path, ReadContext* ctx);

}  // namespace halorec::data

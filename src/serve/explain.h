#pragma once
// Why an item was recommended (internal to serve/): the user's own items most
// similar to it (cosine of item vectors) and the interest it belongs to.

#include <cstdint>
#include <vector>

#include "serve/recommend.h"
#include "serve/retrieval.h"

namespace halorec::serve {

// Per item of `list` (item rows of user row `u`'s list): up to `per_item` of
// the user's seen items, most similar first, and the interest: the one the
// item came from (`from`, multi) or else the interest whose medoid is most
// similar to the item (-1 when the model stores no interests for u).
std::vector<Explanation> explain_list(const ModelFile& m, const Views& views, const Seen& seen,
                                      int64_t u, const std::vector<int64_t>& list,
                                      const std::vector<int32_t>& from, int64_t per_item);

}  // namespace halorec::serve

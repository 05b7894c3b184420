#pragma once
// FAISS index bytes checked before FAISS reads them. FAISS's reader trusts
// every count it reads (a 9.6 KB file can make it allocate gigabytes) and its
// search trusts every id it finds (an out-of-range HNSW neighbour or label is
// a segmentation fault). This check walks the serialized layout of the three
// kinds HaloRec writes (IndexFlatIP, IndexHNSWFlat over inner product,
// IndexIVFPQ with 8-bit codes; FAISS 1.7's format): every length within the
// bytes that are left, every id in range, every structure consistent, and no
// byte left over. Anything else is refused.

#include <cstdint>
#include <string>
#include <vector>

namespace halorec::serve {

// InputError naming `path` and what is wrong unless `bytes` is an index of a
// kind HaloRec writes over `items` vectors of dimension `dim`.
void check_index_bytes(const std::vector<uint8_t>& bytes, int64_t items, int64_t dim,
                       const std::string& path);

}  // namespace halorec::serve

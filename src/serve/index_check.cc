#include "serve/index_check.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/quote.h"

namespace halorec::serve {

namespace {

// Reads the serialized fields in order; every read is checked against the
// bytes that are left before anything is allocated.
class Bytes {
 public:
  Bytes(const std::vector<uint8_t>& b, const std::string& path) : b_(b), path_(path) {}

  template <typename T>
  T one(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, b_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return v;
  }
  // A FAISS vector: a 64-bit count, then that many elements.
  template <typename T>
  std::vector<T> vec(const char* what, uint64_t max_count) {
    const uint64_t n = one<uint64_t>(what);
    if (n > max_count || n > left() / sizeof(T)) {
      fail("{}: {} entries declared, at most {} fit ({} bytes left)", what, n,
           std::min<uint64_t>(max_count, left() / sizeof(T)), left());
    }
    std::vector<T> v(static_cast<size_t>(n));
    if (n > 0) std::memcpy(v.data(), b_.data() + at_, n * sizeof(T));
    at_ += n * sizeof(T);
    return v;
  }
  void skip(uint64_t bytes, const char* what) {
    need(bytes, what);
    at_ += bytes;
  }
  const uint8_t* here() const { return b_.data() + at_; }
  uint64_t left() const { return b_.size() - at_; }
  std::string fourcc(const char* what) {
    need(4, what);
    std::string t(reinterpret_cast<const char*>(b_.data() + at_), 4);
    at_ += 4;
    return t;
  }

  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) const {
    HR_THROW(InputError, "{}: not an index HaloRec can serve: {} (at byte {})", path_,
             fmt::format(f, std::forward<Args>(args)...), at_);
  }

 private:
  void need(uint64_t bytes, const char* what) {
    if (bytes > left()) fail("{}: needs {} bytes, {} left (truncated?)", what, bytes, left());
  }
  const std::vector<uint8_t>& b_;
  const std::string& path_;
  uint64_t at_ = 0;
};

constexpr uint64_t kMaxIds = uint64_t{1} << 31;  // FAISS's HNSW stores ids as int32

struct Header {
  int32_t d = 0;
  int64_t ntotal = 0;
};

// Index::header: d, ntotal, two unused counts, is_trained, metric (inner product).
Header header(Bytes& in, int64_t dim, int64_t ntotal, const char* kind) {
  Header h;
  h.d = in.one<int32_t>("dimension");
  h.ntotal = in.one<int64_t>("vector count");
  in.one<int64_t>("unused");
  in.one<int64_t>("unused");
  const uint8_t trained = in.one<uint8_t>("is_trained");
  const int32_t metric = in.one<int32_t>("metric");
  if (h.d != dim || h.ntotal != ntotal) {
    in.fail("{} of {} vectors of dimension {}, expected {} of dimension {}", kind, h.ntotal, h.d,
            ntotal, dim);
  }
  if (trained != 1 || metric != 0) {
    in.fail("{} is {} with metric {} (HaloRec writes trained inner-product indexes)", kind,
            trained == 1 ? "trained" : "untrained", metric);
  }
  return h;
}

// IndexFlatIP: the vectors themselves.
void flat(Bytes& in, int64_t dim, int64_t ntotal, const char* kind) {
  if (in.fourcc(kind) != "IxFI") in.fail("{}: expected a flat inner-product index", kind);
  header(in, dim, ntotal, kind);
  const uint64_t floats = in.one<uint64_t>("vector values");
  if (floats != static_cast<uint64_t>(ntotal) * static_cast<uint64_t>(dim)) {
    in.fail("{}: {} values, expected {} x {}", kind, floats, ntotal, dim);
  }
  const uint8_t* values = in.here();
  in.skip(floats * 4, "vector values");
  // Vectors are scored by inner product: a NaN would rank arbitrarily.
  for (uint64_t k = 0; k < floats; ++k) {
    float x;
    std::memcpy(&x, values + 4 * k, 4);
    if (!std::isfinite(x)) in.fail("{}: vector value {} is NaN or infinite", kind, k);
  }
}

void hnsw(Bytes& in, int64_t dim, int64_t items) {
  header(in, dim, items, "HNSW index");
  const auto n = static_cast<uint64_t>(items);
  const std::vector<double> probas = in.vec<double>("assign_probas", 64);
  const std::vector<int32_t> cum = in.vec<int32_t>("cum_nneighbor_per_level", 65);
  const std::vector<int32_t> levels = in.vec<int32_t>("levels", kMaxIds);
  const std::vector<uint64_t> offsets = in.vec<uint64_t>("offsets", kMaxIds + 1);
  const std::vector<int32_t> neighbors = in.vec<int32_t>("neighbors", uint64_t{1} << 40);
  const int32_t entry = in.one<int32_t>("entry_point");
  const int32_t max_level = in.one<int32_t>("max_level");
  const int32_t ef_construction = in.one<int32_t>("efConstruction");
  const int32_t ef_search = in.one<int32_t>("efSearch");
  const int32_t upper_beam = in.one<int32_t>("upper_beam");
  if (cum.size() < 2 || probas.size() + 1 != cum.size() || cum[0] != 0) {
    in.fail("HNSW levels: {} neighbour counts for {} level probabilities", cum.size(),
            probas.size());
  }
  for (size_t l = 1; l < cum.size(); ++l) {
    if (cum[l] < cum[l - 1] || cum[l] > (1 << 16)) {
      in.fail("HNSW neighbour counts per level are not increasing within 65536");
    }
  }
  for (double p : probas) {
    if (!(p >= 0 && p <= 1)) in.fail("HNSW level probability {} is not in [0, 1]", p);
  }
  const int32_t top = static_cast<int32_t>(cum.size()) - 1;  // levels a node can have
  if (levels.size() != n || offsets.size() != n + 1 || offsets[0] != 0) {
    in.fail("HNSW holds levels of {} and offsets of {} nodes, expected {} and {}", levels.size(),
            offsets.size(), n, n + 1);
  }
  int32_t highest = 0;
  for (uint64_t i = 0; i < n; ++i) {
    if (levels[i] < 1 || levels[i] > top) {
      in.fail("HNSW node {} has {} levels, expected 1..{}", i, levels[i], top);
    }
    highest = std::max(highest, levels[i]);
    if (offsets[i + 1] != offsets[i] + static_cast<uint64_t>(cum[levels[i]])) {
      in.fail("HNSW offsets of node {} do not match its {} levels", i, levels[i]);
    }
  }
  if (neighbors.size() != offsets[n]) {
    in.fail("HNSW holds {} neighbour slots, its offsets {}", neighbors.size(), offsets[n]);
  }
  // A node's neighbours at level l have level l themselves: search walks them there.
  for (uint64_t i = 0; i < n; ++i) {
    for (int32_t l = 0; l < levels[i]; ++l) {
      for (uint64_t k = offsets[i] + cum[l]; k < offsets[i] + cum[l + 1]; ++k) {
        const int32_t j = neighbors[k];
        if (j < -1 || j >= items || (j >= 0 && levels[j] <= l)) {
          in.fail("HNSW node {} has neighbour {} at level {}, not a node of that level", i, j,
                  l);
        }
      }
    }
  }
  if (n == 0 ? entry != -1 : (entry < 0 || static_cast<uint64_t>(entry) >= n ||
                              levels[entry] != highest || max_level != highest - 1)) {
    in.fail("HNSW entry point {} at level {} is not a node of the top level {}", entry,
            max_level, highest - 1);
  }
  if (ef_construction < 1 || ef_search < 1 || ef_construction > (1 << 20) ||
      ef_search > (1 << 20) || upper_beam < 1 || upper_beam > (1 << 16)) {
    in.fail("HNSW search settings out of range (efConstruction {}, efSearch {}, upper_beam {})",
            ef_construction, ef_search, upper_beam);
  }
  flat(in, dim, items, "HNSW storage");
}

void ivfpq(Bytes& in, int64_t dim, int64_t items) {
  header(in, dim, items, "IVF-PQ index");
  const uint64_t nlist = in.one<uint64_t>("nlist");
  const uint64_t nprobe = in.one<uint64_t>("nprobe");
  if (nlist < 1 || nlist > std::max<uint64_t>(1, static_cast<uint64_t>(items)) ||
      nprobe < 1 || nprobe > nlist) {
    in.fail("IVF-PQ has {} lists and probes {} for {} items", nlist, nprobe, items);
  }
  flat(in, dim, static_cast<int64_t>(nlist), "IVF-PQ coarse quantizer");
  const int8_t direct_map = in.one<int8_t>("direct map");
  const std::vector<int64_t> map = in.vec<int64_t>("direct map", 0);
  if (direct_map != 0) in.fail("IVF-PQ keeps a direct map (HaloRec writes none)");
  in.one<uint8_t>("by_residual");
  const uint64_t code_size = in.one<uint64_t>("code size");
  const uint64_t pq_d = in.one<uint64_t>("PQ dimension");
  const uint64_t pq_m = in.one<uint64_t>("PQ sub-quantizers");
  const uint64_t nbits = in.one<uint64_t>("PQ bits");
  if (pq_d != static_cast<uint64_t>(dim) || pq_m < 1 || pq_m > pq_d || pq_d % pq_m != 0 ||
      nbits != 8 || code_size != pq_m) {
    in.fail("IVF-PQ product quantizer of dimension {}, {} sub-quantizers of {} bits, codes of "
            "{} bytes (HaloRec writes 8-bit codes of dimension {})", pq_d, pq_m, nbits, code_size,
            dim);
  }
  const std::vector<float> centroids = in.vec<float>("PQ centroids", pq_d * 256);
  if (centroids.size() != pq_d * 256) {
    in.fail("IVF-PQ has {} centroid values, expected {}", centroids.size(), pq_d * 256);
  }
  for (float c : centroids) {
    if (!std::isfinite(c)) in.fail("IVF-PQ centroid value is NaN or infinite");
  }
  // The lookup table FAISS precomputes on reading: nlist x M x 256 floats.
  if (nlist * pq_m * 256 > (uint64_t{1} << 30)) {
    in.fail("IVF-PQ of {} lists and {} sub-quantizers would need a table of {} GiB", nlist, pq_m,
            nlist * pq_m * 256 * 4 >> 30);
  }
  if (in.fourcc("inverted lists") != "ilar") in.fail("expected array inverted lists");
  const uint64_t lists = in.one<uint64_t>("list count");
  const uint64_t list_code_size = in.one<uint64_t>("list code size");
  if (lists != nlist || list_code_size != code_size) {
    in.fail("inverted lists: {} lists of {}-byte codes, the index has {} of {}", lists,
            list_code_size, nlist, code_size);
  }
  std::vector<uint64_t> sizes(static_cast<size_t>(nlist), 0);
  const std::string list_type = in.fourcc("list type");
  if (list_type == "full") {
    sizes = in.vec<uint64_t>("list sizes", nlist);
    if (sizes.size() != nlist) in.fail("{} list sizes for {} lists", sizes.size(), nlist);
  } else if (list_type == "sprs") {
    const std::vector<uint64_t> pairs = in.vec<uint64_t>("list sizes", 2 * nlist);
    if (pairs.size() % 2 != 0) in.fail("sparse list sizes come in pairs");
    for (size_t k = 0; k < pairs.size(); k += 2) {
      if (pairs[k] >= nlist) in.fail("list {} of {}", pairs[k], nlist);
      sizes[pairs[k]] = pairs[k + 1];
    }
  } else {
    in.fail("unknown list type");
  }
  uint64_t total = 0;
  for (uint64_t s : sizes) {
    if (s > static_cast<uint64_t>(items)) in.fail("a list of {} entries for {} items", s, items);
    total += s;
  }
  if (total != static_cast<uint64_t>(items)) {
    in.fail("inverted lists hold {} entries for {} items", total, items);
  }
  // Every item in exactly one list: its label is its row in model.h5.
  std::vector<bool> seen(static_cast<size_t>(items), false);
  for (uint64_t s : sizes) {
    if (s == 0) continue;
    in.skip(s * code_size, "list codes");
    for (uint64_t k = 0; k < s; ++k) {
      const int64_t id = in.one<int64_t>("list id");
      if (id < 0 || id >= items || seen[static_cast<size_t>(id)]) {
        in.fail("inverted list id {} is not an item row, or repeats", id);
      }
      seen[static_cast<size_t>(id)] = true;
    }
  }
}

}  // namespace

void check_index_bytes(const std::vector<uint8_t>& bytes, int64_t items, int64_t dim,
                       const std::string& path) {
  Bytes in(bytes, path);
  if (items < 0 || static_cast<uint64_t>(items) >= kMaxIds || dim < 1 || dim > (1 << 16)) {
    in.fail("a model of {} items of dimension {}", items, dim);
  }
  const std::string kind = in.fourcc("index type");
  if (kind == "IxFI") {
    Bytes again(bytes, path);
    flat(again, dim, items, "flat index");
    if (again.left() != 0) again.fail("{} bytes after the index", again.left());
    return;
  }
  if (kind == "IHNf") {
    hnsw(in, dim, items);
  } else if (kind == "IwPQ") {
    ivfpq(in, dim, items);
  } else {
    in.fail("type tag '{}' is not one HaloRec writes (flat IxFI, hnsw IHNf, ivfpq IwPQ)",
            quote(kind));
  }
  if (in.left() != 0) in.fail("{} bytes after the index", in.left());
}

}  // namespace halorec::serve

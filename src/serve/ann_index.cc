#include "serve/ann_index.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>

#include "core/check.h"
#include "core/digest.h"
#include "core/error.h"
#include "core/quote.h"
#include "core/resources.h"
#include "core/staged_path.h"
#include "core/temp_files.h"
#include "h5/file.h"
#include "serve/index_check.h"

#ifdef HALOREC_WITH_FAISS
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#endif

namespace halorec::serve {

namespace fs = std::filesystem;

bool faiss_available() {
#ifdef HALOREC_WITH_FAISS
  return true;
#else
  return false;
#endif
}

void require_faiss() {
  if (!faiss_available()) {
    HR_THROW(UsageError,
             "this HaloRec was built without FAISS: install libfaiss-dev "
             "(scripts/install-deps.sh does) and rebuild");
  }
}

void parse_index_params(const std::string& text, IndexOptions* o) {
  const std::map<std::string, int64_t*> keys = {
      {"m", &o->m},         {"ef_construction", &o->ef_construction},
      {"ef_search", &o->ef_search}, {"nlist", &o->nlist},
      {"pq_m", &o->pq_m},   {"nprobe", &o->nprobe}};
  if (text.size() > 4096) HR_THROW(UsageError, "--index-params: {} bytes, at most 4096", text.size());
  size_t at = 0;
  while (at < text.size()) {
    const size_t comma = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, comma - at);
    at = comma + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const auto it = keys.find(key);
    if (it == keys.end()) {
      HR_THROW(UsageError, "--index-params: unknown key '{}' (expected m, ef_construction, "
               "ef_search, nlist, pq_m or nprobe)", quote(key));
    }
    const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || v < 0 || errno == ERANGE ||
        v > std::numeric_limits<int32_t>::max()) {
      HR_THROW(UsageError, "--index-params: {}='{}' is not an integer in 0..2147483647", key,
               quote(value));
    }
    *it->second = v;
  }
}

void check_index_options(const IndexOptions& o) {
  if (o.kind != "flat" && o.kind != "hnsw" && o.kind != "ivfpq") {
    HR_THROW(UsageError, "--index '{}': expected flat, hnsw or ivfpq", quote(o.kind));
  }
  // Bounds that keep memory to what the index needs: FAISS allocates
  // ef-sized heaps per query and nlist x pq_m tables.
  const struct {
    const char* key;
    int64_t value, lo, hi;
  } bounds[] = {{"m", o.m, 2, 256},
                {"ef_construction", o.ef_construction, 1, 65536},
                {"ef_search", o.ef_search, 1, 65536},
                {"nlist", o.nlist, 0, int64_t{1} << 24},
                {"pq_m", o.pq_m, 0, 4096},
                {"nprobe", o.nprobe, 1, int64_t{1} << 24}};
  for (const auto& b : bounds) {
    if (b.value < b.lo || b.value > b.hi) {
      HR_THROW(UsageError, "--index-params: {} must be in {}..{}, got {}", b.key, b.lo, b.hi,
               b.value);
    }
  }
}

std::string new_index_path(const std::string& model_path) {
  fs::path p(model_path);
  p.replace_extension("." + random_hex(4) + ".faiss");
  return p.string();
}

bool is_index_file(const std::string& path) {
  // FAISS's type tags of IndexFlatIP, IndexHNSWFlat and IndexIVFPQ.
  std::ifstream in(path, std::ios::binary);
  char tag[4] = {};
  if (!in.read(tag, 4)) return false;
  const std::string t(tag, 4);
  return t == "IxFI" || t == "IHNf" || t == "IwPQ";
}

IndexRecord read_index_record(const std::string& model_path) {
  IndexRecord r;
  if (!is_model_file(model_path)) return r;
  try {
    h5::Handle file = h5::open_file(model_path, "model");
    const hid_t f = file.get();
    if (!h5::has_attr(f, "index_file")) return r;
    r.file = h5::get_attr_string(f, "index_file");
    r.sha256 = h5::get_attr_string(f, "index_sha256");
    r.bytes = h5::get_attr_int(f, "index_bytes");
  } catch (const std::exception&) {
    return {};
  }
  return r;
}

namespace {

std::string sha256_of_file(const std::string& path, int64_t limit) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec || static_cast<int64_t>(size) > limit) return "";
  std::ifstream in(path, std::ios::binary);
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) h.update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  return h.hex();
}

// NAME.TAG.faiss for model NAME.h5: TAG eight hex digits.
bool is_tagged_index_name(const std::string& file, const std::string& stem) {
  if (file.size() != stem.size() + 1 + 8 + 6 || file.compare(0, stem.size(), stem) != 0 ||
      file[stem.size()] != '.' || file.compare(file.size() - 6, 6, ".faiss") != 0) {
    return false;
  }
  const std::string tag = file.substr(stem.size() + 1, 8);
  return tag.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

void remove_replaced_indexes(const std::string& model_path, const IndexRecord& old,
                             const std::string& kept_file) {
  const fs::path dir = fs::path(model_path).has_parent_path() ? fs::path(model_path).parent_path()
                                                              : fs::path(".");
  std::error_code ec;
  if (!old.file.empty() && old.file != kept_file && old.file.find('/') == std::string::npos) {
    const std::string p = (dir / old.file).string();
    if (sha256_of_file(p, old.bytes) == old.sha256) fs::remove(p, ec);
  }
  const std::string stem = fs::path(model_path).stem().string();
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name == kept_file || !is_tagged_index_name(name, stem)) continue;
    std::error_code st;
    if (!fs::is_regular_file(fs::symlink_status(e.path(), st)) ||
        !is_index_file(e.path().string())) {
      continue;
    }
    fs::remove(e.path(), st);
  }
}

#ifdef HALOREC_WITH_FAISS

namespace {

// The index file's bytes, read once: hashed, then deserialized in place.
std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) HR_THROW(InputError, "{}: cannot open the index file", path);
  std::vector<uint8_t> bytes(static_cast<size_t>(in.tellg()));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()))) {
    HR_THROW(InputError, "{}: cannot read the index file", path);
  }
  return bytes;
}

std::string sha256_of(const std::vector<uint8_t>& bytes) {
  Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.hex();
}

}  // namespace

struct AnnIndex::Impl {
  std::unique_ptr<faiss::Index> index;
  int64_t ef_search = 128;
};

IndexReport build_index(const ModelFile& m, const IndexOptions& o, const std::string& path) {
  check_index_options(o);
  Stopwatch watch;
  const int64_t n = static_cast<int64_t>(m.item_ids.size());
  const int d = static_cast<int>(m.dim);
  std::unique_ptr<faiss::Index> index;
  try {
    if (o.kind == "flat") {
      index = std::make_unique<faiss::IndexFlatIP>(d);
    } else if (o.kind == "hnsw") {
      auto h = std::make_unique<faiss::IndexHNSWFlat>(d, static_cast<int>(o.m),
                                                      faiss::METRIC_INNER_PRODUCT);
      h->hnsw.efConstruction = static_cast<int>(o.ef_construction);
      h->hnsw.efSearch = static_cast<int>(o.ef_search);
      index = std::move(h);
    } else {
      const int64_t pq_m = o.pq_m > 0 ? o.pq_m : std::max<int64_t>(1, m.dim / 4);
      if (m.dim % pq_m != 0) {
        HR_THROW(UsageError, "--index-params: pq_m={} must divide the dimension {}", pq_m, m.dim);
      }
      // FAISS wants about 39 training points per centroid.
      int64_t nlist = o.nlist > 0 ? o.nlist
                                  : static_cast<int64_t>(4 * std::sqrt(static_cast<double>(n)));
      nlist = std::max<int64_t>(1, std::min(nlist, n / 39));
      if (n < 256) {
        HR_THROW(UsageError, "--index ivfpq needs at least 256 items to train its codes, the "
                 "model has {}: use flat or hnsw", n);
      }
      auto quantizer = std::make_unique<faiss::IndexFlatIP>(d);
      auto ivf = std::make_unique<faiss::IndexIVFPQ>(quantizer.get(), d,
                                                     static_cast<size_t>(nlist),
                                                     static_cast<size_t>(pq_m), 8,
                                                     faiss::METRIC_INNER_PRODUCT);
      ivf->own_fields = true;  // the IVF index deletes its quantizer
      quantizer.release();
      ivf->nprobe = static_cast<size_t>(o.nprobe);
      ivf->train(n, m.item_vectors.data());
      index = std::move(ivf);
    }
    index->add(n, m.item_vectors.data());
  } catch (const faiss::FaissException& e) {
    HR_THROW(InputError, "building the {} index: {}", o.kind, e.what());
  }
  faiss::VectorIOWriter writer;
  faiss::write_index(index.get(), &writer);
  const std::vector<uint8_t>& bytes = writer.data;
  StagedPath staged(path);
  {
    std::ofstream out(staged.temp(), std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) HR_THROW(IoError, "{}: cannot write the index", path);
  }
  staged.commit();
  IndexReport r;
  r.path = path;
  r.kind = o.kind;
  r.items = n;
  r.bytes = static_cast<int64_t>(bytes.size());
  r.seconds = watch.seconds();
  r.sha256 = sha256_of(bytes);
  return r;
}

std::unique_ptr<AnnIndex> AnnIndex::open(const ModelFile& m, const std::string& model_path) {
  if (m.index_file.empty()) {
    HR_THROW(UsageError, "{} has no ANN index: export it with --index flat|hnsw|ivfpq",
             model_path);
  }
  const std::string path = (fs::path(model_path).parent_path() / m.index_file).string();
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    HR_THROW(InputError, "{}: the model's index file is missing (keep it beside model.h5, or "
             "export again with --index)", path);
  }
  if (m.index_bytes < 0 || static_cast<int64_t>(fs::file_size(path, ec)) != m.index_bytes) {
    HR_THROW(InputError, "{}: not the index exported with {} (its size and digest differ): export "
             "again with --index", path, model_path);
  }
  std::vector<uint8_t> bytes = file_bytes(path);
  if (static_cast<int64_t>(bytes.size()) != m.index_bytes || sha256_of(bytes) != m.index_sha256) {
    HR_THROW(InputError, "{}: not the index exported with {} (its digest differs): export "
             "again with --index", path, model_path);
  }
  // FAISS reads nothing that was not checked first (a digest only says the
  // bytes are the ones model.h5 names, and model.h5 can be edited too).
  check_index_bytes(bytes, static_cast<int64_t>(m.item_ids.size()), m.dim, path);
  std::unique_ptr<AnnIndex> a(new AnnIndex());
  a->impl_ = std::make_unique<Impl>();
  try {
    faiss::VectorIOReader reader;
    reader.data = std::move(bytes);
    a->impl_->index.reset(faiss::read_index(&reader));
  } catch (const faiss::FaissException& e) {
    HR_THROW(InputError, "{}: not a readable FAISS index: {}", path, e.what());
  }
  const faiss::Index& idx = *a->impl_->index;
  if (idx.d != m.dim || idx.ntotal != static_cast<int64_t>(m.item_ids.size()) ||
      idx.metric_type != faiss::METRIC_INNER_PRODUCT) {
    HR_THROW(InputError, "{}: {} vectors of dimension {}, the model has {} items of dimension {}",
             path, idx.ntotal, idx.d, m.item_ids.size(), m.dim);
  }
  a->kind_ = m.index_kind;
  a->path_ = path;
  return a;
}

AnnIndex::~AnnIndex() = default;

void AnnIndex::configure(const IndexOptions& o) {
  check_index_options(o);
  impl_->ef_search = o.ef_search;
  if (auto* h = dynamic_cast<faiss::IndexHNSW*>(impl_->index.get())) {
    h->hnsw.efSearch = static_cast<int>(o.ef_search);
  }
  if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(impl_->index.get())) {
    ivf->nprobe = static_cast<size_t>(o.nprobe);
  }
}

void AnnIndex::search(const float* queries, int64_t n, int64_t k, std::vector<int64_t>* rows,
                      std::vector<float>* scores) const {
  rows->assign(static_cast<size_t>(n * k), -1);
  scores->assign(static_cast<size_t>(n * k), -std::numeric_limits<float>::infinity());
  if (n == 0 || k == 0) return;
  if (auto* h = dynamic_cast<faiss::IndexHNSW*>(impl_->index.get())) {
    // HNSW returns at most efSearch neighbours.
    h->hnsw.efSearch = static_cast<int>(std::max<int64_t>(impl_->ef_search, k));
  }
  std::vector<int64_t> labels(static_cast<size_t>(n * k));
  try {
    impl_->index->search(n, queries, k, scores->data(), labels.data());
  } catch (const faiss::FaissException& e) {
    HR_THROW(InputError, "{}: search failed: {}", path_, e.what());
  }
  for (size_t j = 0; j < labels.size(); ++j) {
    (*rows)[j] = labels[j];
    if (labels[j] < 0) (*scores)[j] = -std::numeric_limits<float>::infinity();
  }
}

#else  // no FAISS

struct AnnIndex::Impl {};

IndexReport build_index(const ModelFile&, const IndexOptions& o, const std::string&) {
  check_index_options(o);
  require_faiss();
  return {};
}

std::unique_ptr<AnnIndex> AnnIndex::open(const ModelFile&, const std::string&) {
  require_faiss();
  return nullptr;
}
AnnIndex::~AnnIndex() = default;
void AnnIndex::configure(const IndexOptions&) { require_faiss(); }
void AnnIndex::search(const float*, int64_t, int64_t, std::vector<int64_t>*,
                      std::vector<float>*) const {
  require_faiss();
}

#endif

IndexReport index_model(const std::string& model_path, const IndexOptions& o) {
  check_index_options(o);
  require_faiss();
  ModelFile m = read_model_file(model_path);
  const IndexRecord old = read_index_record(model_path);
  const std::string path = new_index_path(model_path);
  const IndexReport r = build_index(m, o, path);
  // Removed again (on an error or SIGTERM) unless model.h5 commits naming it.
  TempPath unnamed(path);
  m.index_file = std::filesystem::path(path).filename().string();
  m.index_kind = r.kind;
  m.index_sha256 = r.sha256;
  m.index_bytes = r.bytes;
  record_model_index(model_path, m);
  unnamed.release();
  remove_replaced_indexes(model_path, old, m.index_file);
  return r;
}

}  // namespace halorec::serve

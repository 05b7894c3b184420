#include "serve/ann_index.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>

#include "core/check.h"
#include "core/digest.h"
#include "core/quote.h"
#include "core/resources.h"
#include "core/staged_path.h"

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
    const long long v = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || v < 0) {
      HR_THROW(UsageError, "--index-params: {}='{}' is not a non-negative integer", key,
               quote(value));
    }
    *it->second = v;
  }
}

void check_index_options(const IndexOptions& o) {
  if (o.kind != "flat" && o.kind != "hnsw" && o.kind != "ivfpq") {
    HR_THROW(UsageError, "--index '{}': expected flat, hnsw or ivfpq", quote(o.kind));
  }
  if (o.m < 2 || o.m > 256) HR_THROW(UsageError, "--index-params: m must be in 2..256, got {}", o.m);
  if (o.ef_construction < 1 || o.ef_search < 1 || o.nprobe < 1) {
    HR_THROW(UsageError, "--index-params: ef_construction, ef_search and nprobe must be >= 1");
  }
}

std::string index_path_for(const std::string& model_path) {
  fs::path p(model_path);
  p.replace_extension(".faiss");
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
  if (!fs::exists(path)) {
    HR_THROW(InputError, "{}: the model's index file is missing (keep NAME.faiss beside "
             "model.h5, or export again with --index)", path);
  }
  std::vector<uint8_t> bytes = file_bytes(path);
  if (static_cast<int64_t>(bytes.size()) != m.index_bytes || sha256_of(bytes) != m.index_sha256) {
    HR_THROW(InputError, "{}: not the index exported with {} (its digest differs): export "
             "again with --index", path, model_path);
  }
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
  const std::string path = index_path_for(model_path);
  const IndexReport r = build_index(m, o, path);
  m.index_file = std::filesystem::path(path).filename().string();
  m.index_kind = r.kind;
  m.index_sha256 = r.sha256;
  m.index_bytes = r.bytes;
  record_model_index(model_path, m);
  return r;
}

}  // namespace halorec::serve

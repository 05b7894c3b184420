#include "serve/recommend.h"

#include <ATen/ATen.h>

#include <limits>
#include <unordered_map>

#include "comm/mpi_communicator.h"
#include "core/check.h"
#include "graph/csr.h"
#include "partition/halo_plan.h"
#include "train/evaluator.h"

namespace halorec::serve {

namespace {

void check_dataset(const ModelFile& m, const data::Dataset& d) {
  if (d.fingerprint() != m.dataset_fingerprint || d.user_ids != m.user_ids ||
      d.item_ids != m.item_ids) {
    HR_THROW(InputError, "the dataset is not the one the model was trained on (fingerprint {}..., "
             "model's {}...)", d.fingerprint().substr(0, 12), m.dataset_fingerprint.substr(0, 12));
  }
}

}  // namespace

std::vector<Recommendation> recommend(const ModelFile& m, const std::vector<std::string>& users,
                                      int64_t k, const data::Dataset* seen) {
  if (k < 1) HR_THROW(UsageError, "--k must be >= 1, got {}", k);
  if (seen != nullptr) check_dataset(m, *seen);
  std::unordered_map<std::string, int64_t> row_of;
  row_of.reserve(m.user_ids.size());
  for (size_t r = 0; r < m.user_ids.size(); ++r) row_of.emplace(m.user_ids[r], static_cast<int64_t>(r));
  std::vector<int64_t> rows;
  for (const std::string& u : users) {
    const auto it = row_of.find(u);
    if (it == row_of.end()) HR_THROW(InputError, "user '{}' is not in the model", u);
    rows.push_back(it->second);
  }
  const int64_t I = static_cast<int64_t>(m.item_ids.size());
  const int64_t kk = std::min(k, I);
  const at::Tensor uv = at::from_blob(const_cast<float*>(m.user_vectors.data()),
                                      {static_cast<int64_t>(m.user_ids.size()), m.dim}, at::kFloat);
  const at::Tensor iv_t =
      at::from_blob(const_cast<float*>(m.item_vectors.data()), {I, m.dim}, at::kFloat).t();
  std::vector<int64_t> indptr;
  if (seen != nullptr) {
    indptr.assign(m.user_ids.size() + 1, 0);
    for (int64_t u : seen->train.user) ++indptr[static_cast<size_t>(u) + 1];
    for (size_t q = 1; q < indptr.size(); ++q) indptr[q] += indptr[q - 1];
  }
  std::vector<Recommendation> out;
  const int64_t n = static_cast<int64_t>(rows.size());
  constexpr int64_t kBlock = 1024;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    const at::Tensor idx = at::tensor(std::vector<int64_t>(rows.begin() + b, rows.begin() + e), at::kLong);
    at::Tensor scores = at::mm(uv.index_select(0, idx), iv_t).contiguous();
    float* sp = scores.data_ptr<float>();
    if (seen != nullptr) {
      for (int64_t q = b; q < e; ++q) {
        const int64_t u = rows[q];
        for (int64_t t = indptr[u]; t < indptr[u + 1]; ++t) {
          sp[(q - b) * I + seen->train.item[t]] = -std::numeric_limits<float>::infinity();
        }
      }
    }
    const auto [top_v, top_i] = at::topk(scores, kk, 1, true, true);
    const at::Tensor tv = top_v.contiguous(), ti = top_i.contiguous();
    for (int64_t q = b; q < e; ++q) {
      Recommendation r;
      r.user = users[q];
      for (int64_t j = 0; j < kk; ++j) {
        const float s = tv.data_ptr<float>()[(q - b) * kk + j];
        if (s == -std::numeric_limits<float>::infinity()) break;  // only seen items left
        r.items.emplace_back(m.item_ids[ti.data_ptr<int64_t>()[(q - b) * kk + j]], s);
      }
      out.push_back(std::move(r));
    }
  }
  return out;
}

std::map<std::string, double> evaluate_model(const ModelFile& m, const data::Dataset& d,
                                             const std::vector<int64_t>& topk) {
  check_dataset(m, d);
  const graph::Csr a = graph::normalized_adjacency(d);
  const std::vector<int32_t> owner(static_cast<size_t>(a.num_rows), 0);
  const partition::Shard shard = std::move(partition::build_shards(d, a, owner, 1)[0]);
  std::vector<float> all(m.user_vectors);
  all.insert(all.end(), m.item_vectors.begin(), m.item_vectors.end());
  const at::Tensor final_vectors =
      at::from_blob(all.data(), {a.num_rows, m.dim}, at::kFloat).clone();
  comm::MpiCommunicator self(MPI_COMM_SELF);
  const train::Evaluator ev(shard, topk, 1024);
  return ev.evaluate(final_vectors, self).metrics;
}

}  // namespace halorec::serve

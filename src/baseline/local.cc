#include "baseline/local.h"

#include "core/check.h"
#include "core/counting_sort.h"
#include "data/dataset.h"
#include "data/split.h"
#include "partition/shard_file.h"

namespace halorec::baseline {

namespace {

void slice_users(const data::Interactions& in, int64_t lo, int64_t hi, data::Interactions& out) {
  const auto b = std::lower_bound(in.user.begin(), in.user.end(), lo) - in.user.begin();
  const auto e = std::lower_bound(in.user.begin(), in.user.end(), hi) - in.user.begin();
  out.user.assign(in.user.begin() + b, in.user.begin() + e);
  out.item.assign(in.item.begin() + b, in.item.begin() + e);
  out.weight.assign(in.weight.begin() + b, in.weight.begin() + e);
}

}  // namespace

Local load_local(const std::string& dataset, const std::string& parts, comm::Communicator& comm,
                 double validation, uint64_t seed) {
  Local l;
  if (!parts.empty()) {
    const data::DatasetInfo info = data::read_dataset_info(dataset);
    const partition::PartitionMeta meta = partition::read_meta(parts);
    partition::check_partition_matches(meta, parts, dataset, info.fingerprint);
    if (meta.num_parts != comm.size()) {
      HR_THROW(UsageError, "--parts '{}' has {} parts: run with as many ranks, not {}", parts,
               meta.num_parts, comm.size());
    }
    l.shard = partition::read_shard(parts, comm.rank(), meta);
    for (int64_t g : l.shard.owned) {
      if (g < l.shard.num_users) l.users.push_back(g);
    }
  } else {
    const data::Dataset d = data::read_dataset(dataset);
    const int64_t U = d.num_users();
    const int64_t P = comm.size();
    const int64_t lo = U * comm.rank() / P;
    const int64_t hi = U * (comm.rank() + 1) / P;
    l.shard.rank = comm.rank();
    l.shard.num_parts = comm.size();
    l.shard.num_users = U;
    l.shard.num_items = d.num_items();
    for (int64_t u = lo; u < hi; ++u) l.users.push_back(u);
    l.shard.owned = l.users;
    slice_users(d.train, lo, hi, l.shard.train);
    slice_users(d.test, lo, hi, l.shard.test);
  }
  if (validation > 0) l.shard.validation = data::carve_validation(validation, seed, &l.shard.train);
  l.num_items = l.shard.num_items;
  const auto& tr = l.shard.train;
  l.indptr.assign(1, 0);
  size_t t = 0;
  for (int64_t u : l.users) {
    while (t < tr.size() && tr.user[t] < u) ++t;
    for (; t < tr.size() && tr.user[t] == u; ++t) {
      if (l.items.size() > static_cast<size_t>(l.indptr.back()) && l.items.back() == tr.item[t]) {
        continue;
      }
      l.items.push_back(tr.item[t]);
    }
    l.indptr.push_back(static_cast<int64_t>(l.items.size()));
  }
  const int64_t I = l.num_items;
  CountingSort by_item(I);
  for (int64_t i : l.items) by_item.count(i);
  by_item.finish_counts();
  l.t_rows.resize(l.items.size());
  for (size_t k = 0; k + 1 < l.indptr.size(); ++k) {
    for (int64_t e = l.indptr[k]; e < l.indptr[k + 1]; ++e) {
      l.t_rows[static_cast<size_t>(by_item.place(l.items[e]))] = static_cast<int64_t>(k);
    }
  }
  l.t_indptr = by_item.take_offsets();
  return l;
}

at::Tensor long_tensor(const std::vector<int64_t>& v) {
  return at::tensor(v, at::kLong);
}

// Users (all ranks) of each item: the column sums of the interaction matrix.
at::Tensor item_counts(const Local& l, comm::Communicator& comm) {
  at::Tensor n = at::zeros({l.num_items}, at::kDouble);
  double* np = n.data_ptr<double>();
  for (int64_t i = 0; i < l.num_items; ++i) {
    np[i] = static_cast<double>(l.t_indptr[i + 1] - l.t_indptr[i]);
  }
  comm.all_reduce(n, comm::ReduceOp::kSum);
  return n;
}

}  // namespace halorec::baseline

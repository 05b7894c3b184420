#include "baseline/local.h"

#include "core/check.h"
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
  l.build(l.shard.train.user, l.shard.train.item);
  return l;
}

at::Tensor long_tensor(const std::vector<int64_t>& v) {
  return at::tensor(v, at::kLong);
}

}  // namespace halorec::baseline

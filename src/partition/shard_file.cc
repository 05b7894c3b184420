#include "partition/shard_file.h"

#include <fmt/format.h>

#include "core/check.h"
#include "core/version.h"
#include "h5/file.h"

namespace halorec::partition {

namespace {

void write_header(hid_t f, const char* format, const PartitionMeta& meta) {
  h5::set_attr(f, "format", format);
  h5::set_attr(f, "format_version", kPartitionFormatVersion);
  h5::set_attr(f, "created_by", std::string("halorec ") + kVersion);
  h5::set_attr(f, "world_size", static_cast<int64_t>(meta.num_parts));
  h5::set_attr(f, "method", meta.method);
  h5::set_attr(f, "seed", static_cast<int64_t>(meta.seed));
  h5::set_attr(f, "dataset_fingerprint", meta.dataset_fingerprint);
  h5::set_attr(f, "partition_fingerprint", meta.fingerprint);
  h5::set_attr(f, "num_users", meta.num_users);
  h5::set_attr(f, "num_items", meta.num_items);
}

void check_format(hid_t f, const std::string& path, const char* format) {
  if (!h5::has_attr(f, "format") || h5::get_attr_string(f, "format") != format) {
    HR_THROW(InputError, "'{}' is not a HaloRec {} file (format attribute '{}')", path,
             format == std::string(kShardFormat) ? "shard" : "partition", format);
  }
  const int64_t v = h5::get_attr_int(f, "format_version");
  if (v != kPartitionFormatVersion) {
    HR_THROW(InputError, "'{}' has format_version {}, this HaloRec reads {}", path, v,
             kPartitionFormatVersion);
  }
}

void write_records(hid_t file, const char* name, const data::Interactions& x) {
  h5::Handle g = h5::create_group(file, name);
  h5::write_array(g.get(), "user", x.user);
  h5::write_array(g.get(), "item", x.item);
  h5::write_array(g.get(), "weight", x.weight);
}

data::Interactions read_records(hid_t file, const char* name) {
  h5::Handle g = h5::open_group(file, name);
  data::Interactions x;
  x.user = h5::read_array<int64_t>(g.get(), "user");
  x.item = h5::read_array<int64_t>(g.get(), "item");
  x.weight = h5::read_array<float>(g.get(), "weight");
  if (x.item.size() != x.user.size() || x.weight.size() != x.user.size()) {
    HR_THROW(InputError, "{}: user, item and weight differ in length", h5::describe(g.get()));
  }
  return x;
}

}  // namespace

std::string shard_file_name(int32_t rank) { return fmt::format("rank-{:05d}.h5", rank); }

void write_meta(const std::string& dir, const PartitionMeta& meta) {
  h5::Handle file = h5::create_file(dir + "/meta.h5");
  const hid_t f = file.get();
  write_header(f, kPartitionFormat, meta);
  h5::set_attr(f, "dataset_path", meta.dataset_path);
  h5::set_attr(f, "num_edges", meta.num_edges);
  h5::set_attr(f, "stats", meta.stats_json);
  h5::write_array(f, "owner", meta.owner);
}

void write_shard(const std::string& dir, const Shard& s, const PartitionMeta& meta) {
  h5::Handle file = h5::create_file(dir + "/" + shard_file_name(s.rank));
  const hid_t f = file.get();
  write_header(f, kShardFormat, meta);
  h5::set_attr(f, "rank", static_cast<int64_t>(s.rank));
  h5::set_attr(f, "num_owned", s.num_owned());
  h5::set_attr(f, "num_halo", s.num_halo());
  {
    h5::Handle g = h5::create_group(f, "owned");
    h5::write_array(g.get(), "global_id", s.owned);
  }
  {
    h5::Handle g = h5::create_group(f, "halo");
    h5::write_array(g.get(), "global_id", s.halo);
    h5::write_array(g.get(), "owner", s.halo_owner);
    h5::write_array(g.get(), "owner_local", s.halo_owner_local);
    h5::write_array(g.get(), "peer_offsets", s.recv_offsets);
  }
  {
    h5::Handle g = h5::create_group(f, "adj");
    h5::write_array(g.get(), "indptr", s.indptr);
    h5::write_array(g.get(), "col", s.col);
    h5::write_array(g.get(), "value", s.value);
  }
  {
    h5::Handle g = h5::create_group(f, "send");
    h5::write_array(g.get(), "peer_offsets", s.send_offsets);
    h5::write_array(g.get(), "index", s.send_index);
  }
  write_records(f, "train", s.train);
  write_records(f, "test", s.test);
}

PartitionMeta read_meta(const std::string& dir, bool with_owner) {
  const std::string path = dir + "/meta.h5";
  h5::Handle file = h5::open_file(path, "partition metadata");
  const hid_t f = file.get();
  check_format(f, path, kPartitionFormat);
  PartitionMeta m;
  m.num_parts = static_cast<int32_t>(h5::get_attr_int(f, "world_size"));
  m.method = h5::get_attr_string(f, "method");
  m.seed = static_cast<uint64_t>(h5::get_attr_int(f, "seed"));
  m.dataset_path = h5::get_attr_string(f, "dataset_path");
  m.dataset_fingerprint = h5::get_attr_string(f, "dataset_fingerprint");
  m.fingerprint = h5::get_attr_string(f, "partition_fingerprint");
  m.num_users = h5::get_attr_int(f, "num_users");
  m.num_items = h5::get_attr_int(f, "num_items");
  m.num_edges = h5::get_attr_int(f, "num_edges");
  m.stats_json = h5::get_attr_string(f, "stats");
  if (with_owner) {
    m.owner = h5::read_array<int32_t>(f, "owner");
    if (static_cast<int64_t>(m.owner.size()) != m.num_users + m.num_items) {
      HR_THROW(InputError, "'{}': owner has {} entries for {} nodes", path, m.owner.size(),
               m.num_users + m.num_items);
    }
  }
  return m;
}

Shard read_shard(const std::string& dir, int32_t rank, const PartitionMeta& meta) {
  const std::string path = dir + "/" + shard_file_name(rank);
  h5::Handle file = h5::open_file(path, "shard");
  const hid_t f = file.get();
  check_format(f, path, kShardFormat);
  const int64_t file_rank = h5::get_attr_int(f, "rank");
  const int64_t world = h5::get_attr_int(f, "world_size");
  if (file_rank != rank || world != meta.num_parts) {
    HR_THROW(InputError, "'{}' is rank {} of {}, expected rank {} of {}", path, file_rank, world,
             rank, meta.num_parts);
  }
  if (h5::get_attr_string(f, "partition_fingerprint") != meta.fingerprint) {
    HR_THROW(InputError, "'{}' belongs to another partition than '{}/meta.h5'", path, dir);
  }
  Shard s;
  s.rank = rank;
  s.num_parts = meta.num_parts;
  s.num_users = meta.num_users;
  s.num_items = meta.num_items;
  s.owned = h5::read_array<int64_t>(f, "owned/global_id");
  s.halo = h5::read_array<int64_t>(f, "halo/global_id");
  s.halo_owner = h5::read_array<int32_t>(f, "halo/owner");
  s.halo_owner_local = h5::read_array<int64_t>(f, "halo/owner_local");
  s.recv_offsets = h5::read_array<int64_t>(f, "halo/peer_offsets");
  s.indptr = h5::read_array<int64_t>(f, "adj/indptr");
  s.col = h5::read_array<int64_t>(f, "adj/col");
  s.value = h5::read_array<float>(f, "adj/value");
  s.send_offsets = h5::read_array<int64_t>(f, "send/peer_offsets");
  s.send_index = h5::read_array<int64_t>(f, "send/index");
  s.train = read_records(f, "train");
  s.test = read_records(f, "test");
  const auto P = static_cast<size_t>(meta.num_parts) + 1;
  const int64_t local = s.num_owned() + s.num_halo();
  bool ok = s.indptr.size() == s.owned.size() + 1 && s.indptr.back() == s.nnz() &&
            s.value.size() == s.col.size() && s.recv_offsets.size() == P &&
            s.send_offsets.size() == P && s.recv_offsets.back() == s.num_halo() &&
            s.send_offsets.back() == static_cast<int64_t>(s.send_index.size()) &&
            s.halo_owner.size() == s.halo.size() && s.halo_owner_local.size() == s.halo.size();
  for (size_t k = 0; ok && k < s.col.size(); ++k) ok = s.col[k] >= 0 && s.col[k] < local;
  for (size_t k = 0; ok && k < s.send_index.size(); ++k) {
    ok = s.send_index[k] >= 0 && s.send_index[k] < s.num_owned();
  }
  if (!ok) HR_THROW(InputError, "'{}': inconsistent shard arrays (corrupt file?)", path);
  return s;
}

void check_partition_matches(const PartitionMeta& meta, const std::string& dir,
                             const std::string& dataset_path,
                             const std::string& dataset_fingerprint) {
  if (meta.dataset_fingerprint != dataset_fingerprint) {
    HR_THROW(InputError,
             "partition '{}' is stale: it was made from a dataset with fingerprint {}..., but "
             "'{}' has fingerprint {}...; re-run 'halorec partition'",
             dir, meta.dataset_fingerprint.substr(0, 12), dataset_path,
             dataset_fingerprint.substr(0, 12));
  }
}

}  // namespace halorec::partition

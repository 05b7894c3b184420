#include "partition/shard_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/quote.h"
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
  h5::check_file_kind(f, path,
                      {format, kPartitionFormatVersion,
                       format == std::string(kShardFormat) ? "shard file" : "partition file",
                       "make one with 'halorec partition' (or let 'halorec train' make it)"});
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
  if (meta.validation > 0) {
    h5::set_attr(f, "validation", meta.validation);
    h5::set_attr(f, "validation_seed", static_cast<int64_t>(meta.validation_seed));
    h5::set_attr(f, "num_validation", meta.num_validation);
  }
  if (!meta.social_fingerprint.empty()) {
    h5::set_attr(f, "social_path", meta.social_path);
    h5::set_attr(f, "social_fingerprint", meta.social_fingerprint);
    h5::set_attr(f, "num_social", meta.num_social);
  }
  h5::write_array(f, "owner", meta.owner);
  h5::close_file(file, dir + "/meta.h5");
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
  if (meta.validation > 0) write_records(f, "validation", s.validation);
  write_records(f, "test", s.test);
  h5::close_file(file, dir + "/" + shard_file_name(s.rank));
}

namespace {

// Everything a rank indexes with is in range and ordered as documented
// (shard.h), so that a damaged file is refused here, not met as an
// out-of-range index deep inside training.
void validate_shard(const Shard& s, const PartitionMeta& meta, const std::string& path) {
  auto bad = [&](const std::string& what) {
    HR_THROW(InputError, "'{}': {} (corrupt or modified shard file)", path, what);
  };
  const int64_t nodes = meta.num_users + meta.num_items;
  const int64_t P = meta.num_parts;
  const bool owners = static_cast<int64_t>(meta.owner.size()) == nodes;
  auto owner_of = [&](int64_t id) { return owners ? meta.owner[static_cast<size_t>(id)] : -1; };
  for (size_t k = 0; k < s.owned.size(); ++k) {
    const int64_t id = s.owned[k];
    if (id < 0 || id >= nodes || (k > 0 && id <= s.owned[k - 1])) {
      bad(fmt::format("owned/global_id[{}] = {} is out of order or outside 0..{}", k, id, nodes));
    }
    if (owners && owner_of(id) != s.rank) bad(fmt::format("owns node {} of rank {}", id, owner_of(id)));
  }
  auto offsets_ok = [&](const std::vector<int64_t>& off, size_t size, int64_t end) {
    if (off.size() != size || off.front() != 0 || off.back() != end) return false;
    for (size_t k = 1; k < off.size(); ++k) {
      if (off[k] < off[k - 1]) return false;
    }
    return true;
  };
  const auto peers = static_cast<size_t>(P) + 1;
  if (!offsets_ok(s.recv_offsets, peers, s.num_halo())) bad("halo/peer_offsets are inconsistent");
  if (!offsets_ok(s.send_offsets, peers, static_cast<int64_t>(s.send_index.size()))) {
    bad("send/peer_offsets are inconsistent");
  }
  if (!offsets_ok(s.indptr, s.owned.size() + 1, s.nnz())) bad("adj/indptr is inconsistent");
  if (s.halo_owner.size() != s.halo.size() || s.halo_owner_local.size() != s.halo.size() ||
      s.value.size() != s.col.size()) {
    bad("halo or adjacency arrays differ in length");
  }
  // Rows each peer owns (its rows' local indices run 0..count-1).
  std::vector<int64_t> owned_by(static_cast<size_t>(P), 0);
  if (owners) {
    for (int32_t o : meta.owner) ++owned_by[static_cast<size_t>(o)];
  }
  for (int64_t q = 0; q < P; ++q) {
    const int64_t begin = s.recv_offsets[static_cast<size_t>(q)];
    for (int64_t k = begin; k < s.recv_offsets[static_cast<size_t>(q) + 1]; ++k) {
      const auto h = static_cast<size_t>(k);
      const int64_t id = s.halo[h];
      if (id < 0 || id >= nodes || s.halo_owner[h] != q || q == s.rank ||
          (owners && owner_of(id) != q) || s.halo_owner_local[h] < 0 ||
          (owners && s.halo_owner_local[h] >= owned_by[static_cast<size_t>(q)])) {
        bad(fmt::format("halo node {} (entry {}) does not belong to peer {}", id, k, q));
      }
      // A peer's halo rows come by global id, ascending, and so do their
      // rows at the owner (which owns its nodes in ascending order).
      if (k > begin && (id <= s.halo[h - 1] || s.halo_owner_local[h] <= s.halo_owner_local[h - 1])) {
        bad(fmt::format("halo/global_id of peer {} is not strictly ascending at entry {} ({} "
                        "after {})", q, k, id, s.halo[h - 1]));
      }
    }
  }
  const int64_t local = s.num_owned() + s.num_halo();
  for (size_t k = 0; k < s.col.size(); ++k) {
    // Normalized adjacency: every value in (0, 1].
    if (s.col[k] < 0 || s.col[k] >= local || !(s.value[k] > 0 && s.value[k] <= 1)) {
      bad(fmt::format("adjacency entry {} ({}, {}) is outside its {} local nodes or (0, 1]",
                      k, s.col[k], s.value[k], local));
    }
  }
  for (int64_t idx : s.send_index) {
    if (idx < 0 || idx >= s.num_owned()) bad(fmt::format("send/index {} is not an owned row", idx));
  }
  for (const auto* x : {&s.train, &s.validation, &s.test}) {
    for (size_t r = 0; r < x->size(); ++r) {
      const int64_t u = x->user[r], i = x->item[r];
      if (u < 0 || u >= meta.num_users || i < 0 || i >= meta.num_items ||
          !std::binary_search(s.owned.begin(), s.owned.end(), u) ||
          !(std::isfinite(x->weight[r]) && x->weight[r] > 0) ||
          (r > 0 && (u < x->user[r - 1] || (u == x->user[r - 1] && i <= x->item[r - 1])))) {
        bad(fmt::format("{} record {} ({}, {}) is not an owned user's, in range and order",
                        x == &s.train ? "train" : x == &s.test ? "test" : "validation", r, u,
                        i));
      }
    }
  }
}

}  // namespace

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
  // Written only by partitions that carve a validation split.
  if (h5::has_attr(f, "validation")) {
    m.validation = h5::get_attr_double(f, "validation");
    m.validation_seed = static_cast<uint64_t>(h5::get_attr_int(f, "validation_seed"));
    m.num_validation = h5::get_attr_int(f, "num_validation");
    if (!(m.validation > 0 && m.validation < 1) || m.num_validation < 0) {
      HR_THROW(InputError, "'{}': validation {} ({} records) is not a fraction in (0, 1)", path,
               m.validation, m.num_validation);
    }
  }
  // Written only by partitions whose graph has social edges (data.social).
  if (h5::has_attr(f, "social_fingerprint")) {
    m.social_path = h5::get_attr_string(f, "social_path");
    m.social_fingerprint = h5::get_attr_string(f, "social_fingerprint");
    m.num_social = h5::get_attr_int(f, "num_social");
    if (m.social_fingerprint.size() != 64 || m.num_social < 1) {
      HR_THROW(InputError, "'{}': social_fingerprint '{}' with {} social edges is not a "
               "partition's record of data.social", path, quote(m.social_fingerprint, 70),
               m.num_social);
    }
  }
  if (m.num_parts < 1 || m.num_parts > (1 << 20) || m.num_users < 0 || m.num_items < 0 ||
      m.num_users + m.num_items < m.num_parts) {
    HR_THROW(InputError, "'{}': {} parts of {} users and {} items is not a partition", path,
             m.num_parts, m.num_users, m.num_items);
  }
  if (with_owner) {
    m.owner = h5::read_array<int32_t>(f, "owner");
    if (static_cast<int64_t>(m.owner.size()) != m.num_users + m.num_items) {
      HR_THROW(InputError, "'{}': owner has {} entries for {} nodes", path, m.owner.size(),
               m.num_users + m.num_items);
    }
    for (size_t k = 0; k < m.owner.size(); ++k) {
      if (m.owner[k] < 0 || m.owner[k] >= m.num_parts) {
        HR_THROW(InputError, "'{}': owner[{}] = {} is not one of its {} parts", path, k,
                 m.owner[k], m.num_parts);
      }
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
  if (meta.validation > 0) {
    if (!h5::exists(f, "validation")) {
      HR_THROW(InputError, "'{}' has no validation records, but '{}/meta.h5' says the partition "
               "carves a validation split", path, dir);
    }
    s.validation = read_records(f, "validation");
  }
  s.test = read_records(f, "test");
  validate_shard(s, meta, path);
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

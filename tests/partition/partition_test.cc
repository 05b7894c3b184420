#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "data/synth.h"
#include "partition/partition_job.h"
#include "partition/shard_file.h"
#include "synth_support.h"
#include "test_support.h"

namespace halorec::partition {
namespace {

namespace fs = std::filesystem;

class PartitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const data::SynthOptions o =
        testing_support::small_synth(300, 200, 4000, 4, 5, dir_.file("d.h5"));
    data::run_synth(o);
    dataset_ = data::read_dataset(o.out);
  }

  PartitionResult partition(int32_t parts, Method method, const std::string& name,
                            uint64_t seed = 1) {
    PartitionOptions o;
    o.dataset = dir_.file("d.h5");
    o.parts = parts;
    o.method = method;
    o.seed = seed;
    o.out = dir_.file(name);
    return run_partition(o);
  }

  std::vector<Shard> read_all(const std::string& name) {
    const PartitionMeta meta = read_meta(dir_.file(name));
    std::vector<Shard> shards;
    for (int32_t r = 0; r < meta.num_parts; ++r) {
      shards.push_back(read_shard(dir_.file(name), r, meta));
    }
    return shards;
  }

  testing::TempDir dir_;
  data::Dataset dataset_;
};

// The global normalized adjacency computed here independently: (row, col) -> value.
std::map<std::pair<int64_t, int64_t>, float> expected_adjacency(const data::Dataset& d) {
  const int64_t U = d.num_users();
  std::vector<double> deg(static_cast<size_t>(U + d.num_items()), 0.0);
  for (size_t r = 0; r < d.train.size(); ++r) {
    deg[d.train.user[r]] += d.train.weight[r];
    deg[U + d.train.item[r]] += d.train.weight[r];
  }
  std::map<std::pair<int64_t, int64_t>, float> a;
  for (size_t r = 0; r < d.train.size(); ++r) {
    const int64_t u = d.train.user[r], i = U + d.train.item[r];
    const auto v = static_cast<float>(d.train.weight[r] / std::sqrt(deg[u] * deg[i]));
    a[{u, i}] = v;
    a[{i, u}] = v;
  }
  return a;
}

void expect_union_is_global(const std::vector<Shard>& shards, const data::Dataset& d) {
  const auto expected = expected_adjacency(d);
  std::set<std::pair<int64_t, int64_t>> seen;
  std::set<int64_t> owned;
  for (const Shard& s : shards) {
    for (int64_t k = 0; k < s.num_owned(); ++k) {
      ASSERT_TRUE(owned.insert(s.owned[k]).second) << "node owned twice: " << s.owned[k];
      for (int64_t e = s.indptr[k]; e < s.indptr[k + 1]; ++e) {
        const std::pair<int64_t, int64_t> rc{s.owned[k], s.global_of(s.col[e])};
        ASSERT_TRUE(seen.insert(rc).second) << "edge twice";
        auto it = expected.find(rc);
        ASSERT_NE(it, expected.end()) << "edge not in the graph";
        EXPECT_EQ(s.value[e], it->second);
      }
    }
  }
  EXPECT_EQ(seen.size(), expected.size());
  EXPECT_EQ(static_cast<int64_t>(owned.size()), d.num_users() + d.num_items());
}

void expect_plans_agree(const std::vector<Shard>& shards) {
  const auto P = static_cast<int32_t>(shards.size());
  for (const Shard& r : shards) {
    for (int32_t q = 0; q < P; ++q) {
      const Shard& peer = shards[q];
      // What r sends to q, as global ids, equals q's halo block from r, in order.
      std::vector<int64_t> sent;
      for (int64_t k = r.send_offsets[q]; k < r.send_offsets[q + 1]; ++k) {
        sent.push_back(r.owned[r.send_index[k]]);
      }
      std::vector<int64_t> received(peer.halo.begin() + peer.recv_offsets[r.rank],
                                    peer.halo.begin() + peer.recv_offsets[r.rank + 1]);
      EXPECT_EQ(sent, received) << "rank " << r.rank << " -> " << q;
    }
    EXPECT_EQ(r.send_offsets[r.rank], r.send_offsets[r.rank + 1]) << "no sends to itself";
    EXPECT_EQ(r.recv_offsets[r.rank], r.recv_offsets[r.rank + 1]);
    // The halo is exactly the remote neighbours of owned rows.
    std::set<int64_t> remote;
    for (int64_t e = 0; e < r.nnz(); ++e) {
      if (r.col[e] >= r.num_owned()) remote.insert(r.global_of(r.col[e]));
    }
    EXPECT_EQ(remote, std::set<int64_t>(r.halo.begin(), r.halo.end()));
    for (size_t h = 0; h < r.halo.size(); ++h) {
      const Shard& owner = shards[r.halo_owner[h]];
      EXPECT_EQ(owner.owned[r.halo_owner_local[h]], r.halo[h]);
    }
  }
}

TEST_F(PartitionTest, ShardsReproduceTheGlobalGraphForEveryMethod) {
  for (Method m : {Method::kMetis, Method::kRandom, Method::kHash, Method::kFennel}) {
    for (int32_t P : {1, 2, 3, 4}) {
      SCOPED_TRACE(std::string(method_name(m)) + " P=" + std::to_string(P));
      const std::string name = std::string("parts-") + method_name(m) + std::to_string(P);
      partition(P, m, name);
      const std::vector<Shard> shards = read_all(name);
      ASSERT_EQ(static_cast<int32_t>(shards.size()), P);
      expect_union_is_global(shards, dataset_);
      expect_plans_agree(shards);
      // Each user's interactions are on its owner, all of them.
      size_t train = 0, test = 0;
      for (const Shard& s : shards) {
        train += s.train.size();
        test += s.test.size();
        for (int64_t u : s.train.user) {
          ASSERT_TRUE(std::binary_search(s.owned.begin(), s.owned.end(), u));
        }
      }
      EXPECT_EQ(train, dataset_.train.size());
      EXPECT_EQ(test, dataset_.test.size());
    }
  }
}

TEST_F(PartitionTest, OnePartHasNoHalo) {
  const PartitionResult r = partition(1, Method::kMetis, "p1");
  const std::vector<Shard> shards = read_all("p1");
  EXPECT_EQ(shards[0].num_halo(), 0);
  EXPECT_EQ(r.stats.edge_cut, 0);
  EXPECT_EQ(r.stats.halo_volume_total, 0);
}

std::string bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST_F(PartitionTest, SameSeedGivesByteIdenticalShards) {
  for (Method m : {Method::kMetis, Method::kRandom, Method::kFennel}) {
    partition(3, m, "a", 9);
    partition(3, m, "b", 9);
    for (int32_t r = 0; r < 3; ++r) {
      EXPECT_TRUE(bytes(dir_.file("a/" + shard_file_name(r))) ==
                  bytes(dir_.file("b/" + shard_file_name(r))))
          << method_name(m) << " rank " << r;
    }
    EXPECT_TRUE(bytes(dir_.file("a/meta.h5")) == bytes(dir_.file("b/meta.h5")));
    fs::remove_all(dir_.file("a"));
    fs::remove_all(dir_.file("b"));
  }
  const PartitionResult x = partition(3, Method::kRandom, "x", 1);
  const PartitionResult y = partition(3, Method::kRandom, "y", 2);
  EXPECT_NE(x.fingerprint, y.fingerprint);
}

TEST_F(PartitionTest, FennelBeatsRandomOnHaloWithinTheCaps) {
  const PartitionResult fennel = partition(4, Method::kFennel, "f");
  const PartitionResult random = partition(4, Method::kRandom, "r");
  EXPECT_LT(fennel.stats.halo_volume_total, 0.9 * random.stats.halo_volume_total);
  EXPECT_LE(fennel.stats.node_imbalance, 1.10);
  EXPECT_LE(fennel.stats.edge_imbalance, 1.10);
}

TEST_F(PartitionTest, MetisBeatsRandomOnHalo) {
  const PartitionResult metis = partition(4, Method::kMetis, "m");
  const PartitionResult random = partition(4, Method::kRandom, "r");
  EXPECT_LT(metis.stats.halo_volume_total, random.stats.halo_volume_total);
  EXPECT_LE(metis.stats.node_imbalance, 1.10);
  EXPECT_LE(metis.stats.edge_imbalance, 1.10);
}

TEST_F(PartitionTest, StalePartitionIsDetected) {
  partition(2, Method::kMetis, "p");
  const PartitionMeta meta = read_meta(dir_.file("p"));
  EXPECT_NO_THROW(check_partition_matches(meta, dir_.file("p"), dir_.file("d.h5"),
                                          dataset_.fingerprint()));
  data::SynthOptions o;
  o.users = 300;
  o.items = 200;
  o.interactions = 4001;  // one more interaction: another dataset
  o.communities = 4;
  o.seed = 5;
  o.out = dir_.file("other.h5");
  data::run_synth(o);
  const std::string other = data::read_dataset_info(o.out).fingerprint;
  try {
    check_partition_matches(meta, dir_.file("p"), o.out, other);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("is stale"), std::string::npos);
  }
}

TEST_F(PartitionTest, EmptyPartsStillWork) {
  // Hash ownership over 500 nodes with 400 parts leaves some parts empty.
  const PartitionResult r = partition(400, Method::kHash, "h");
  const std::vector<Shard> shards = read_all("h");
  int empty = 0;
  for (const Shard& s : shards) empty += s.num_owned() == 0;
  EXPECT_GT(empty, 0);
  expect_union_is_global(shards, dataset_);
  expect_plans_agree(shards);
  EXPECT_EQ(*std::min_element(r.stats.nodes.begin(), r.stats.nodes.end()), 0);
}

TEST_F(PartitionTest, BadRequestsAreClearErrors) {
  EXPECT_THROW(partition(0, Method::kMetis, "z"), UsageError);
  EXPECT_THROW(partition(501, Method::kMetis, "z"), UsageError);  // 500 nodes
  EXPECT_FALSE(fs::exists(dir_.file("z")));

  partition(2, Method::kMetis, "full");
  try {
    partition(2, Method::kMetis, "full");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--force"), std::string::npos);
  }
  PartitionOptions o;
  o.dataset = dir_.file("d.h5");
  o.parts = 3;
  o.out = dir_.file("full");
  o.force = true;
  run_partition(o);
  EXPECT_EQ(read_meta(dir_.file("full")).num_parts, 3);
  EXPECT_TRUE(fs::exists(dir_.file("full/rank-00002.h5")));

  o.dataset = dir_.write("junk.h5", "not hdf5");
  o.out = dir_.file("fromjunk");
  EXPECT_THROW(run_partition(o), InputError);
  o.dataset = dir_.file("missing.h5");
  EXPECT_THROW(run_partition(o), InputError);
  EXPECT_FALSE(fs::exists(dir_.file("fromjunk")));
  for (const auto& entry : fs::directory_iterator(dir_.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos)
        << "left behind: " << entry.path();
  }
}

TEST_F(PartitionTest, ShardReaderChecksRankAndPartition) {
  partition(2, Method::kRandom, "a", 1);
  partition(2, Method::kRandom, "b", 2);
  const PartitionMeta meta_a = read_meta(dir_.file("a"));
  fs::copy_file(dir_.file("b/rank-00001.h5"), dir_.file("a/rank-00001.h5"),
                fs::copy_options::overwrite_existing);
  EXPECT_THROW(read_shard(dir_.file("a"), 1, meta_a), InputError);
  EXPECT_THROW(read_shard(dir_.file("a"), 2, meta_a), InputError);
}

}  // namespace
}  // namespace halorec::partition

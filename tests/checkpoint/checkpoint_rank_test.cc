// Sharded checkpoints as rank tests (rank_test.h: under mpirun and as 2..5
// ranks in threads): every rank writes its rows, any ownership reads them
// back (reshard to one rank, to blocks, to a permutation), the training
// position and dense parameters round-trip, `keep` retires the oldest
// committed step, and an identity that differs is refused.

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <filesystem>
#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "core/error.h"
#include "rank_test.h"

namespace halorec::checkpoint {
namespace {

using testing::test_comm;
constexpr int64_t kNodes = 53, kDim = 4;

std::string shared_dir() { return testing::shared_temp_dir("halorec-ckpt"); }

// Row g of table t (0: vectors, 1: first moments, 2: second moments) at step s.
at::Tensor rows(const std::vector<int64_t>& ids, int table, int64_t step) {
  at::Tensor out = at::empty({static_cast<int64_t>(ids.size()), kDim}, at::kFloat);
  for (size_t k = 0; k < ids.size(); ++k) {
    for (int64_t j = 0; j < kDim; ++j) {
      out[static_cast<int64_t>(k)][j] =
          static_cast<float>(ids[k] * 0.5 + j * 0.125 + table * 100 + step);
    }
  }
  return out;
}

Identity identity() {
  Identity id;
  id.dataset_fingerprint = std::string(64, 'a');
  id.model_type = "lightgcn";
  id.dim = kDim;
  id.layers = 2;
  return id;
}

// This rank's rows when node g belongs to rank g % P.
Content content_at(int64_t step) {
  comm::Communicator& c = test_comm();
  Content content;
  for (int64_t g = c.rank(); g < kNodes; g += c.size()) content.owned.push_back(g);
  content.e0 = rows(content.owned, 0, step);
  content.m = rows(content.owned, 1, step);
  content.v = rows(content.owned, 2, step);
  content.adam_step = step;
  content.dense = {at::arange(6, at::kFloat).reshape({2, 3}) + step};
  content.dense_m = {at::full({2, 3}, 0.25f)};
  content.dense_v = {at::full({2, 3}, 0.5f)};
  content.state.epoch = 2;
  content.state.step_in_epoch = 3;
  content.state.global_step = step;
  content.state.steps_run = 3;
  content.state.loss_sum = 1.5;
  content.state.best = 0.25;
  content.state.lr_scale = 0.5;
  content.state.last_metrics_json = "{\"recall@20\":0.125}";
  content.config_yaml = "model:\n  type: lightgcn\n";
  return content;
}

void expect_rows(const Content& got, const std::vector<int64_t>& ids, int64_t step) {
  EXPECT_EQ(got.owned, ids);
  EXPECT_TRUE(at::equal(got.e0, rows(ids, 0, step)));
  EXPECT_TRUE(at::equal(got.m, rows(ids, 1, step)));
  EXPECT_TRUE(at::equal(got.v, rows(ids, 2, step)));
}

RANK_TEST(Checkpoint, AnyOwnershipReadsWhatEveryRankWrote) {
  comm::Communicator& c = test_comm();
  const std::string root = shared_dir() + "/checkpoints";
  const std::string dir = write_checkpoint(root, content_at(7), identity(), c, 2);
  c.barrier();
  // Everything on one rank, contiguous blocks of another rank count, and a
  // sparse subset: the rows do not depend on who wrote them.
  std::vector<int64_t> all, block, sparse;
  for (int64_t g = 0; g < kNodes; ++g) all.push_back(g);
  const int64_t per = (kNodes + c.size()) / (c.size() + 1);
  for (int64_t g = c.rank() * per; g < std::min(kNodes, (c.rank() + 1) * per); ++g) {
    block.push_back(g);
  }
  for (int64_t g = kNodes - 1 - c.rank(); g >= 0; g -= 7) sparse.insert(sparse.begin(), g);
  for (const auto* ids : {&all, &block, &sparse}) {
    const Content got = load_checkpoint(dir, *ids, identity());
    expect_rows(got, *ids, 7);
    EXPECT_EQ(got.adam_step, 7);
    ASSERT_EQ(got.dense.size(), 1u);
    EXPECT_TRUE(at::equal(got.dense[0].view({2, 3}), at::arange(6, at::kFloat).reshape({2, 3}) + 7));
    EXPECT_EQ(got.state.global_step, 7);
    EXPECT_EQ(got.state.epoch, 2);
    EXPECT_EQ(got.state.step_in_epoch, 3);
    EXPECT_DOUBLE_EQ(got.state.lr_scale, 0.5);
    EXPECT_EQ(got.state.last_metrics_json, "{\"recall@20\":0.125}");
    EXPECT_EQ(got.config_yaml, "model:\n  type: lightgcn\n");
  }
  c.barrier();
  if (c.rank() == 0) std::filesystem::remove_all(std::filesystem::path(root).parent_path());
}

RANK_TEST(Checkpoint, KeepRetiresTheOldestAndNewestComesFirst) {
  comm::Communicator& c = test_comm();
  const std::string root = shared_dir() + "/checkpoints";
  for (int64_t step : {10, 20, 30}) write_checkpoint(root, content_at(step), identity(), c, 2);
  c.barrier();
  const std::vector<std::string> committed = list_committed(root);
  ASSERT_EQ(committed.size(), 2u);
  EXPECT_EQ(std::filesystem::path(committed[0]).filename(), "step-0000000030");
  EXPECT_EQ(std::filesystem::path(committed[1]).filename(), "step-0000000020");
  EXPECT_EQ(find_latest(root), committed[0]);
  std::vector<int64_t> mine = {c.rank() % kNodes};
  expect_rows(load_checkpoint(committed[1], mine, identity()), mine, 20);
  c.barrier();
  if (c.rank() == 0) std::filesystem::remove_all(std::filesystem::path(root).parent_path());
}

RANK_TEST(Checkpoint, AnotherIdentityIsRefusedNamingWhatDiffers) {
  comm::Communicator& c = test_comm();
  const std::string root = shared_dir() + "/checkpoints";
  const std::string dir = write_checkpoint(root, content_at(5), identity(), c, 1);
  c.barrier();
  Identity other = identity();
  other.dim = 8;
  try {
    load_checkpoint(dir, {0}, other);
    ADD_FAILURE() << "a checkpoint of dim 4 read as dim 8";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("dim 4"), std::string::npos) << e.what();
  }
  other = identity();
  other.dataset_fingerprint = std::string(64, 'b');
  EXPECT_THROW(load_checkpoint(dir, {0}, other), InputError);
  c.barrier();
  if (c.rank() == 0) std::filesystem::remove_all(std::filesystem::path(root).parent_path());
}

}  // namespace
}  // namespace halorec::checkpoint

#include "train/neighborhood.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/check.h"
#include "core/counter_rng.h"

namespace halorec::train {

namespace {

std::vector<int64_t> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.cpu().contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

at::Tensor long_tensor(const std::vector<int64_t>& v, const at::Device& device) {
  return at::tensor(at::ArrayRef<int64_t>(v), at::kLong).to(device);
}

}  // namespace

NeighborSampler::NeighborSampler(const partition::Shard& shard, const std::vector<int32_t>& owner,
                                 int64_t layers, const std::vector<int64_t>& fanouts, uint64_t seed,
                                 comm::Communicator& comm)
    : owned_(shard.owned),
      owner_(owner),
      layers_(layers),
      fanouts_(fanouts),
      seed_(seed),
      comm_(comm),
      position_(static_cast<size_t>(shard.num_users + shard.num_items), -1) {
  HR_CHECK(fanouts_.size() <= 1 || static_cast<int64_t>(fanouts_.size()) == layers_,
           "{} fanouts for {} layers", fanouts_.size(), layers_);
  HR_CHECK(shard.num_users + shard.num_items < (int64_t{1} << 31), "{} nodes: more than int32",
           shard.num_users + shard.num_items);
  // Rows by global column id, so a sample does not depend on the local order.
  indptr_.assign(shard.indptr.begin(), shard.indptr.end());
  col_.resize(shard.col.size());
  val_.resize(shard.value.size());
  std::vector<std::pair<int64_t, float>> row;
  for (int64_t r = 0; r + 1 < static_cast<int64_t>(indptr_.size()); ++r) {
    row.clear();
    for (int64_t e = indptr_[r]; e < indptr_[r + 1]; ++e) {
      row.emplace_back(shard.global_of(shard.col[e]), shard.value[e]);
    }
    std::sort(row.begin(), row.end());
    for (size_t k = 0; k < row.size(); ++k) {
      col_[indptr_[r] + k] = row[k].first;
      val_[indptr_[r] + k] = row[k].second;
    }
  }
}

int64_t NeighborSampler::fanout_of_layer(int64_t layer) const {
  if (fanouts_.empty()) return 0;
  if (fanouts_.size() == 1) return fanouts_[0];
  // Layer L is hop 1 (next to the targets), layer 1 hop L.
  return fanouts_[static_cast<size_t>(layers_ - layer)];
}

void NeighborSampler::sample_row(int64_t row, int64_t layer, int64_t step,
                                 std::vector<int64_t>* cols, std::vector<float>* vals) const {
  const int64_t begin = indptr_[row];
  const int64_t degree = indptr_[row + 1] - begin;
  const int64_t fanout = fanout_of_layer(layer);
  if (fanout == 0 || degree <= fanout) {
    cols->insert(cols->end(), col_.begin() + begin, col_.begin() + begin + degree);
    vals->insert(vals->end(), val_.begin() + begin, val_.begin() + begin + degree);
    return;
  }
  // Floyd's algorithm: `fanout` distinct positions among `degree`, keyed by
  // (seed, step, layer, node), then taken in ascending (global id) order.
  const uint64_t node = static_cast<uint64_t>(owned_[static_cast<size_t>(row)]);
  CounterRng rng(hash_key(
      seed_, 0x4e42u, hash_key(static_cast<uint64_t>(step), static_cast<uint64_t>(layer), node)));
  std::vector<int64_t> chosen;
  chosen.reserve(static_cast<size_t>(fanout));
  for (int64_t j = degree - fanout; j < degree; ++j) {
    const int64_t t = static_cast<int64_t>(rng.below(static_cast<uint64_t>(j + 1)));
    chosen.push_back(std::find(chosen.begin(), chosen.end(), t) == chosen.end() ? t : j);
  }
  std::sort(chosen.begin(), chosen.end());
  const float scale = static_cast<float>(static_cast<double>(degree) / static_cast<double>(fanout));
  for (int64_t p : chosen) {
    cols->push_back(col_[begin + p]);
    vals->push_back(val_[begin + p] * scale);
  }
}

model::Blocks NeighborSampler::sample(const std::vector<int64_t>& targets, int64_t step) const {
  const int P = comm_.size();
  const at::Device device = comm_.device();
  const std::vector<int64_t> ones(static_cast<size_t>(P), 1);
  model::Blocks nb;
  nb.nodes = targets;
  nb.sizes.assign(static_cast<size_t>(layers_) + 1, 0);
  nb.sizes[static_cast<size_t>(layers_)] = static_cast<int64_t>(targets.size());
  nb.graphs.resize(static_cast<size_t>(layers_));
  for (size_t i = 0; i < nb.nodes.size(); ++i) {
    int32_t& slot = position_[static_cast<size_t>(nb.nodes[i])];
    HR_CHECK(slot < 0, "target {} given twice", nb.nodes[i]);
    slot = static_cast<int32_t>(i);
  }
  for (int64_t layer = layers_; layer >= 1; --layer) {
    const int64_t rows = static_cast<int64_t>(nb.nodes.size());  // |S_layer|
    // Ask each row's owner for its neighbours, rows grouped by owner.
    std::vector<int64_t> order(static_cast<size_t>(rows));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return owner_[static_cast<size_t>(nb.nodes[a])] < owner_[static_cast<size_t>(nb.nodes[b])];
    });
    std::vector<int64_t> request(static_cast<size_t>(rows));
    std::vector<int64_t> request_counts(static_cast<size_t>(P), 0);
    for (int64_t k = 0; k < rows; ++k) {
      request[k] = nb.nodes[order[k]];
      ++request_counts[static_cast<size_t>(owner_[static_cast<size_t>(request[k])])];
    }
    const std::vector<int64_t> asked_counts =
        to_vector(comm_.all_to_all_v(long_tensor(request_counts, device), ones, ones));
    const std::vector<int64_t> asked =
        to_vector(comm_.all_to_all_v(long_tensor(request, device), request_counts, asked_counts));
    // Owner side: the sampled rows, peer after peer.
    std::vector<int64_t> reply_lengths(asked.size());
    std::vector<int64_t> reply_cols;
    std::vector<float> reply_vals;
    std::vector<int64_t> reply_counts(static_cast<size_t>(P), 0);
    size_t k = 0;
    for (int q = 0; q < P; ++q) {
      for (int64_t n = 0; n < asked_counts[static_cast<size_t>(q)]; ++n, ++k) {
        const auto it = std::lower_bound(owned_.begin(), owned_.end(), asked[k]);
        if (it == owned_.end() || *it != asked[k]) {
          HR_THROW(CommError,
                   "rank {}: rank {} asked for the neighbours of node {}, which this "
                   "rank does not own",
                   comm_.rank(), q, asked[k]);
        }
        const size_t before = reply_cols.size();
        sample_row(it - owned_.begin(), layer, step, &reply_cols, &reply_vals);
        reply_lengths[k] = static_cast<int64_t>(reply_cols.size() - before);
        reply_counts[static_cast<size_t>(q)] += reply_lengths[k];
      }
    }
    const std::vector<int64_t> lengths = to_vector(
        comm_.all_to_all_v(long_tensor(reply_lengths, device), asked_counts, request_counts));
    std::vector<int64_t> got_counts(static_cast<size_t>(P), 0);
    k = 0;
    for (int q = 0; q < P; ++q) {
      for (int64_t n = 0; n < request_counts[static_cast<size_t>(q)]; ++n) {
        got_counts[static_cast<size_t>(q)] += lengths[k++];
      }
    }
    // Columns and values in one message: (column, the value's bits) pairs.
    std::vector<int64_t> packed(2 * reply_cols.size());
    for (size_t e = 0; e < reply_cols.size(); ++e) {
      uint32_t bits = 0;
      std::memcpy(&bits, &reply_vals[e], sizeof(bits));
      packed[2 * e] = reply_cols[e];
      packed[2 * e + 1] = static_cast<int64_t>(bits);
    }
    const at::Tensor got =
        comm_.all_to_all_v(long_tensor(packed, device).view({-1, 2}), reply_counts, got_counts)
            .cpu()
            .contiguous();
    const int64_t* gp = got.data_ptr<int64_t>();
    const auto n_got = static_cast<size_t>(got.size(0));
    std::vector<int64_t> cols(n_got);
    std::vector<float> vals(n_got);
    for (size_t e = 0; e < n_got; ++e) {
      cols[e] = gp[2 * e];
      const auto bits = static_cast<uint32_t>(gp[2 * e + 1]);
      std::memcpy(&vals[e], &bits, sizeof(bits));
    }
    // Where row order[k]'s list starts in the replies.
    std::vector<int64_t> start(static_cast<size_t>(rows) + 1, 0);
    for (int64_t r = 0; r < rows; ++r) start[r + 1] = start[r] + lengths[r];
    std::vector<int64_t> slot_of_row(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) slot_of_row[order[r]] = r;
    // B_layer: rows S_layer (in set order), columns S_{layer-1}, new nodes
    // appended in first-seen order.
    std::vector<int64_t> indptr(static_cast<size_t>(rows) + 1, 0);
    std::vector<int64_t> col;
    std::vector<float> val;
    col.reserve(cols.size());
    val.reserve(cols.size());
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t s = slot_of_row[r];
      for (int64_t e = start[s]; e < start[s + 1]; ++e) {
        int32_t& slot = position_[static_cast<size_t>(cols[e])];
        if (slot < 0) {
          slot = static_cast<int32_t>(nb.nodes.size());
          nb.nodes.push_back(cols[e]);
        }
        col.push_back(slot);
        val.push_back(vals[e]);
      }
      indptr[r + 1] = static_cast<int64_t>(col.size());
    }
    nb.sizes[static_cast<size_t>(layer) - 1] = static_cast<int64_t>(nb.nodes.size());
    nb.graphs[static_cast<size_t>(layer) - 1] =
        model::make_local_graph(static_cast<int64_t>(nb.nodes.size()), indptr, col, val, false);
  }
  for (int64_t v : nb.nodes) position_[static_cast<size_t>(v)] = -1;
  return nb;
}

}  // namespace halorec::train

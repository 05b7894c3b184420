#include "train/training_state.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <exception>
#include <new>

#include "core/check.h"
#include "core/log.h"
#include "core/resources.h"

namespace halorec::train {

void save_checkpoint(const std::string& root, const TrainableState& s,
                     const checkpoint::TrainState& position, const checkpoint::Identity& id,
                     const TrainConfig& c, comm::Communicator& comm, int64_t keep) {
  Stopwatch watch;
  checkpoint::Content content;
  content.owned = *s.owned;
  content.e0 = s.e0.detach();
  content.m = s.adam->exp_avg()[0];
  content.v = s.adam->exp_avg_sq()[0];
  content.adam_step = s.adam->steps();
  for (size_t k = 0; k < s.dense.size(); ++k) {
    content.dense.push_back(s.dense[k].detach().cpu());
    content.dense_m.push_back(s.adam->exp_avg()[k + 1].cpu());
    content.dense_v.push_back(s.adam->exp_avg_sq()[k + 1].cpu());
  }
  content.state = position;
  content.config_yaml = to_yaml(c);
  const std::string dir =
      checkpoint::write_checkpoint(root, content, id, comm,
                                   keep > 0 ? keep : c.checkpoint_keep);
  if (comm.rank() == 0) log::info("checkpoint {} ({:.2f} s)", dir, watch.seconds());
}

checkpoint::TrainState restore_checkpoint(const std::string& from, TrainableState& s,
                                          const checkpoint::Identity& id) {
  const checkpoint::Content loaded = checkpoint::load_checkpoint(from, *s.owned, id);
  if (loaded.dense.size() != s.dense.size()) {
    HR_THROW(CheckpointError, "'{}' has {} dense parameters, this run's model {} (model.type, "
             "data.item_features, model.features or model.feature_widths differ from the run "
             "that wrote it)", from, loaded.dense.size(), s.dense.size());
  }
  at::NoGradGuard no_grad;
  const at::Device device = s.e0.device();
  s.e0.copy_(loaded.e0.to(device));
  s.adam->exp_avg()[0].copy_(loaded.m.to(device));
  s.adam->exp_avg_sq()[0].copy_(loaded.v.to(device));
  for (size_t k = 0; k < s.dense.size(); ++k) {
    if (loaded.dense[k].numel() != s.dense[k].numel()) {
      HR_THROW(CheckpointError, "'{}': dense parameter {} has {} values, this run's model {} "
               "(model.feature_widths or the feature dimension changed?)", from, k,
               loaded.dense[k].numel(), s.dense[k].numel());
    }
    const auto shape = s.dense[k].sizes();
    s.dense[k].detach().copy_(loaded.dense[k].view(shape).to(device));
    s.adam->exp_avg()[k + 1].copy_(loaded.dense_m[k].view(shape).to(device));
    s.adam->exp_avg_sq()[k + 1].copy_(loaded.dense_v[k].view(shape).to(device));
  }
  s.adam->set_steps(loaded.adam_step);
  return loaded.state;
}

std::string restore_newest_valid(const std::vector<std::string>& candidates, TrainableState& s,
                                 const checkpoint::Identity& id, comm::Communicator& comm,
                                 checkpoint::TrainState* position) {
  HR_CHECK(!candidates.empty(), "no checkpoint to restore");
  for (size_t k = 0; k < candidates.size(); ++k) {
    const std::string& from = candidates[k];
    std::string error;
    std::exception_ptr failure;
    try {
      *position = restore_checkpoint(from, s, id);
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      error = e.what();
      failure = std::current_exception();
    }
    at::Tensor failed = at::tensor({error.empty() ? 0.0 : 1.0}, at::kDouble).to(comm.device());
    comm.all_reduce(failed, comm::ReduceOp::kSum);
    if (failed.cpu().item<double>() == 0) return from;
    if (k + 1 == candidates.size()) {
      if (failure && candidates.size() == 1) std::rethrow_exception(failure);
      HR_THROW(CheckpointError, "no committed checkpoint could be read (tried {}, newest {}); "
               "last error: {}", candidates.size(), candidates.front(),
               error.empty() ? "on another rank" : error);
    }
    if (!error.empty()) {
      log::warn("skipping checkpoint {}: {}; trying the one before it", from, error);
    } else if (comm.rank() == 0) {
      log::warn("skipping checkpoint {}: another rank cannot read it; trying the one before it",
                from);
    }
  }
  HR_CHECK(false, "unreachable");
  return {};
}

}  // namespace halorec::train

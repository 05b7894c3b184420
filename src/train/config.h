#pragma once
// The training configuration (YAML), every key documented in docs/config.md.
// Unknown keys are errors that suggest the nearest valid key; values are
// validated with messages naming the key.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/social.h"

namespace halorec::train {

// The keys whose value selects code are read once into these (load_config);
// their YAML names are the tables below, which docs/config.md lists.
enum class ModelType { kMf, kLightgcn, kNgcf };
enum class Score { kDot, kCosine };
enum class LrSchedule { kConstant, kCosine, kStep, kPlateau };
enum class Propagation { kFull, kMinibatch };
enum class OnNonfinite { kStop, kSkip };
// Where item vectors live during evaluation (eval.items).
enum class ItemPlacement {
  kAuto,        // sharded when P > 1 and the item matrix passes 128 MiB
  kReplicated,  // all-gathered to every rank: I x D floats per rank
  kSharded,     // with their owners: I / P x D per rank, user blocks travel
};

template <typename E>
using Choices = std::vector<std::pair<const char*, E>>;
extern const Choices<ModelType> kModelTypes;
extern const Choices<Score> kScores;
extern const Choices<LrSchedule> kLrSchedules;
extern const Choices<Propagation> kPropagations;
extern const Choices<OnNonfinite> kOnNonfinite;
extern const Choices<ItemPlacement> kItemPlacements;

template <typename E>
const char* choice_name(const Choices<E>& choices, E value) {
  for (const auto& [name, v] : choices) {
    if (v == value) return name;
  }
  return "?";
}
inline const char* name_of(ModelType v) { return choice_name(kModelTypes, v); }
inline const char* name_of(Score v) { return choice_name(kScores, v); }
inline const char* name_of(LrSchedule v) { return choice_name(kLrSchedules, v); }
inline const char* name_of(Propagation v) { return choice_name(kPropagations, v); }
inline const char* name_of(OnNonfinite v) { return choice_name(kOnNonfinite, v); }
inline const char* name_of(ItemPlacement v) { return choice_name(kItemPlacements, v); }

struct TrainConfig {
  // data
  std::string dataset;
  std::string parts;  // empty: <output.dir>/parts
  std::string item_features;     // .h5 or .npy content vectors of items; empty: none
  std::string item_feature_ids;  // .npy only: one original id per line; empty: <name>.ids
  std::string user_features;     // the same for users; empty: none
  std::string user_feature_ids;
  std::string missing_features = "error";  // error | zero
  std::string unknown_feature_ids = "error";  // error | cold
  double validation = 0;            // per-user fraction of train carved for validation; 0: none
  int64_t validation_seed = 2020;   // keys the carve's draws
  std::string social;  // user-user pairs joining the graph (data.social); empty: none
  double social_weight = data::kDefaultSocialWeight;  // data.social_weight
  // model
  ModelType model_type = ModelType::kLightgcn;
  int64_t dim = 64;
  int64_t layers = 3;
  double dropout = 0.1;  // ngcf message dropout
  std::string features = "add";  // add | concat | only (with data.item_features)
  std::vector<int64_t> feature_widths = {256};  // hidden widths of the content encoder
  Score score = Score::kDot;  // how a user scores an item
  // A hybrid: a graph filter fitted by train beside the learned model, the
  // two scored together (model::mix_scores); docs/hybrid.md.
  std::string filter = "none";      // none | gfcf | bspm | chebycf
  std::string filter_mix = "auto";  // auto: chosen on the validation carve; or a number in [0, 1]
  int64_t filter_mix_users = 5000;  // validation users the mix is chosen on; 0: all
  int64_t filter_rank = 0;          // the low-pass basis; 0: the method's
  double filter_alpha = -1;         // the ideal term's weight; < 0: the method's
  int64_t filter_order = 8;         // chebycf
  double filter_flatness = 1.5;     // chebycf
  double filter_beta = 0.4;         // chebycf
  double filter_t_sharpen = 2.5;    // bspm
  // train
  int64_t epochs = 10;
  int64_t batch_size = 2048;
  double lr = 0.001;
  LrSchedule lr_schedule = LrSchedule::kConstant;
  int64_t warmup_steps = 0;
  double lr_min = 0;         // cosine: the floor
  double lr_decay = 0.5;     // step: factor
  int64_t lr_decay_epochs = 10;  // step: every this many epochs
  int64_t plateau_patience = 2;  // plateau: evaluations without improvement before a decay
  double weight_decay = 1e-4;
  uint64_t seed = 2020;
  int64_t threads = 0;    // 0: cores / ranks on the node
  int64_t max_steps = 0;  // 0: no limit
  std::string sampler = "uniform";  // uniform | edge
  Propagation propagation = Propagation::kFull;
  std::vector<int64_t> fanouts;      // minibatch: neighbours per node per hop; empty/0: all
  std::string device = "auto";      // auto | cpu | cuda
  OnNonfinite on_nonfinite = OnNonfinite::kStop;  // a step with a NaN/Inf loss or gradient
  std::string init_from;              // warm start: a checkpoint (folder); empty: none
  std::string loss = "bpr";           // bpr | softmax | ccl
  int64_t negatives = 256;            // softmax, ccl: shared negatives per step
  double margin = 0.9;                // ccl
  double negative_weight = 150;       // ccl
  double temperature = 0.1;           // softmax
  bool in_batch_negatives = false;    // softmax: the global batch's positives too
  // partition
  std::string partition_method = "metis";
  // eval
  int64_t eval_every = 1;
  std::vector<int64_t> topk = {20};
  std::string eval_metric = "recall@20";
  int64_t patience = 0;  // evaluations without improvement before stopping; 0: off
  int64_t eval_batch_users = 1024;
  int64_t eval_users = 0;  // evaluate about this many sampled test users; 0: all
  ItemPlacement eval_items = ItemPlacement::kAuto;
  // output
  std::string output_dir = "runs/default";
  // comm
  std::string comm_backend = "auto";  // auto | mpi | nccl
  int64_t comm_timeout_s = 600;       // a collective waiting longer ends the job; 0: never
  // checkpoint
  std::string checkpoint_dir;     // empty: <output.dir>/checkpoints
  int64_t checkpoint_every = 1;   // epochs; 0: only at the end and on signals
  int64_t checkpoint_keep = 2;
  bool keep_best = false;         // also keep the best checkpoint by the validation metric
  std::string resume;             // "", "latest", or a checkpoint (folder)
};

// Every key with its type (or choices, "a|b"), default and meaning, in the
// order of config.cc's key table; docs/config.md's table lists the same
// rows (config_test fails when they differ).
struct ConfigKey {
  const char* name;
  const char* type;
  const char* default_value;
  const char* meaning;
};
const std::vector<ConfigKey>& config_keys();
// docs/config.md's table of keys, rendered from config_keys(): one row per
// key (choices shown as "a, b, c").
std::string config_table_markdown();

// model.filter_mix as a number; nullopt for auto.
std::optional<double> filter_mix_value(const TrainConfig& c);

// Loads `path` (may be empty: defaults only), then applies `overrides`
// ("key=value", value in YAML syntax). ConfigError naming the key or file.
TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides);
// A configuration from YAML text (e.g. the one stored in a checkpoint);
// `where` names its origin in errors.
TrainConfig config_from_yaml(const std::string& text, const std::string& where);
// The effective configuration as YAML.
std::string to_yaml(const TrainConfig& c);

}  // namespace halorec::train

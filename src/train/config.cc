#include "train/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <type_traits>

#include <fmt/format.h>

#include "core/check.h"
#include "core/quote.h"

namespace halorec::train {

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = {
      {"data.dataset", "path", "(required)", "dataset.h5 from halorec prepare or synth"},
      {"data.parts", "path", "<output.dir>/parts",
       "partition folder; made (or remade) on the fly when absent, stale or for another rank count"},
      {"data.item_features", "path", "''",
       "content vectors of items (.h5 with `ids` and `vectors`, or .npy with ids beside it); "
       "docs/interests.md"},
      {"data.item_feature_ids", "path", "<item_features without .npy>.ids",
       "for a .npy data.item_features: the original item id of each row, one per line"},
      {"data.user_features", "path", "''",
       "content vectors of users, the same formats as data.item_features; empty: none"},
      {"data.user_feature_ids", "path", "<user_features without .npy>.ids",
       "for a .npy data.user_features: the original user id of each row, one per line"},
      {"data.missing_features", "error|zero", "error",
       "a dataset item (user) without a feature row: error, or zero features (id vector only)"},
      {"data.unknown_feature_ids", "error|cold", "error",
       "a feature row whose id is not a dataset item (user): error, or a cold-start item (user) "
       "with content and no interactions, which export gives a vector"},
      {"data.validation", "float", "0",
       "carve this fraction of each user's train interactions into a validation split (0: "
       "none): the graph and training leave them out; evaluations report validation "
       "(val_ metrics) and test apart, and early stopping, train.lr_schedule plateau and "
       "checkpoint.keep_best watch validation"},
      {"data.validation_seed", "int", "2020",
       "seed of the validation carve (a user's draws depend on it and the user only)"},
      {"data.social", "path", "''",
       "social edges: a file of user-user pairs `USER USER [WEIGHT]` (original ids; tab, comma "
       "or space separated) joining the graph as undirected edges that lightgcn and ngcf "
       "propagate over (docs/living.md); the partition, checkpoints and exports record its "
       "fingerprint"},
      {"model.type", "mf|lightgcn|ngcf", "lightgcn", "the model"},
      {"model.dim", "int", "64", "vector dimension"},
      {"model.layers", "int", "3", "propagation layers (lightgcn, ngcf; mf ignores it)"},
      {"model.dropout", "float", "0.1", "ngcf message dropout"},
      {"model.features", "add|concat|only", "add",
       "with data.item_features: item layer-0 vector = id vector + encoder(features), "
       "encoder([id vector, features]), or encoder(features) alone"},
      {"model.feature_widths", "list of int", "[256]",
       "hidden layer widths of the content encoder MLP (ReLU); its output width is model.dim"},
      {"model.score", "dot|cosine", "dot",
       "how a user scores an item: the dot product of their final vectors, or their cosine "
       "(training's loss and evaluation, and export, which then stores unit vectors)"},
      {"train.epochs", "int", "10", "epochs to train"},
      {"train.batch_size", "int", "2048", "global batch size (triples per step over all ranks)"},
      {"train.lr", "float", "0.001", "Adam learning rate"},
      {"train.lr_schedule", "constant|cosine|step|plateau", "constant",
       "constant: train.lr throughout; cosine: from train.lr down to train.lr_min over all "
       "train.epochs; step: times train.lr_decay every train.lr_decay_epochs epochs; plateau: "
       "times train.lr_decay (not below train.lr_min) after train.plateau_patience "
       "evaluations without a better validation eval.metric (needs data.validation)"},
      {"train.warmup_steps", "int", "0", "the first N steps ramp the rate linearly up to the "
       "schedule's"},
      {"train.lr_min", "float", "0", "cosine: the rate at the end"},
      {"train.lr_decay", "float", "0.5", "step, plateau: the factor"},
      {"train.lr_decay_epochs", "int", "10", "step: epochs between decays"},
      {"train.plateau_patience", "int", "2",
       "plateau: evaluations without improvement before each decay"},
      {"train.weight_decay", "float", "1e-4", "L2 weight on the batch's layer-0 vectors"},
      {"train.init_from", "path", "''",
       "warm start: a checkpoint (or the newest in a folder) of the same model.type and "
       "model.dim, from any dataset and rank count; every node it knows (matched by original "
       "id) starts from its row, new nodes as usual; optimizer moments and the schedule start "
       "fresh. A resumable checkpoint of this run (checkpoint.resume) takes precedence"},
      {"train.seed", "int", "2020", "seed of initial vectors, sampling, dropout and partitioning"},
      {"train.threads", "int", "0", "intra-op threads per rank (0..1024); 0: cores / ranks on "
       "the node; more than the machine's cores is lowered to them, with a warning"},
      {"train.max_steps", "int", "0", "stop after this many steps (smoke runs, timing); 0: no limit"},
      {"train.sampler", "uniform|edge", "uniform",
       "uniform: |train| triples per epoch from uniformly drawn users (the LightGCN reference); "
       "edge: every train interaction once per epoch"},
      {"train.propagation", "full|minibatch", "full",
       "full: every step propagates the whole graph (the LightGCN reference); minibatch: a step "
       "computes final vectors only for its users and items, from their sampled L-hop "
       "neighbourhoods (train.fanouts)"},
      {"train.fanouts", "list of int", "[]",
       "minibatch: neighbours sampled per node for each hop from the batch outward (one entry "
       "per layer, or one for all; 0 or []: all neighbours, exact)"},
      {"train.device", "auto|cpu|cuda", "auto", "where each rank trains"},
      {"train.loss", "bpr|softmax|ccl", "bpr",
       "bpr: one sampled negative per positive; softmax: sampled softmax over train.negatives "
       "uniform negatives shared by the global batch; ccl: SimpleX's cosine contrastive loss "
       "over the same shared negatives"},
      {"train.negatives", "int", "256", "softmax, ccl: negatives per step, shared by every "
       "triple of the global batch (one GEMM)"},
      {"train.margin", "float", "0.9", "ccl: negatives score below this cost nothing"},
      {"train.negative_weight", "float", "150", "ccl: weight of the mean negative term"},
      {"train.temperature", "float", "0.1", "softmax: scores are divided by it"},
      {"train.in_batch_negatives", "bool", "false",
       "softmax: the global batch's positives are negatives too (beside train.negatives "
       "uniform ones), every negative's logit corrected by -log of its expected count in the "
       "step (logQ: popular items are drawn more often)"},
      {"train.on_nonfinite", "stop|skip", "stop",
       "a step whose loss or gradient is NaN or infinite on any rank: stop (exit 3, nothing of "
       "it checkpointed, earlier checkpoints kept) or skip its update (counted; an epoch with "
       "every step skipped stops as with stop)"},
      {"partition.method", "metis|random|hash|fennel", "metis", "partitioner when partitioning on the fly"},
      {"eval.every", "int", "1", "evaluate every N epochs; 0: never"},
      {"eval.topk", "list of int", "[20]", "cut-offs K of Recall, NDCG, Precision and HitRate"},
      {"eval.metric", "string", "recall@20", "metric that early stopping watches"},
      {"eval.patience", "int", "0", "stop after this many evaluations without improvement; 0: off"},
      {"eval.batch_users", "int", "1024", "users scored per block in evaluation"},
      {"eval.items", "auto|replicated|sharded", "auto",
       "where item vectors live in evaluation: replicated (all-gathered to every rank), sharded "
       "(with their owners; each rank returns a local top-K per user, merged by the user's "
       "owner); auto: sharded with P > 1 ranks once the item matrix passes 128 MiB"},
      {"eval.users", "int", "0", "evaluate a sample of about this many test users (chosen by a "
       "hash of the user id: the same users at any rank count); 0: all"},
      {"output.dir", "path", "runs/default", "run folder: metrics.jsonl, config.yaml, parts"},
      {"comm.backend", "auto|mpi|nccl", "auto", "auto: nccl on CUDA when built with it, else mpi"},
      {"comm.timeout_s", "int", "600",
       "a collective that waits longer than this (a rank stopped, hung or died) ends the whole "
       "job, naming the waiting rank and the operation; 0: wait forever"},
      {"checkpoint.dir", "path", "<output.dir>/checkpoints", "where checkpoints go"},
      {"checkpoint.every", "int", "1", "checkpoint every N epochs (and at the end, and on "
       "SIGTERM/SIGUSR1); 0: only at the end and on signals"},
      {"checkpoint.keep", "int", "2", "committed checkpoints kept"},
      {"checkpoint.keep_best", "bool", "false",
       "also keep the checkpoint of the best validation eval.metric so far in "
       "<checkpoint.dir>/best (needs data.validation); export it with --checkpoint .../best"},
      {"checkpoint.resume", "string", "''", "'latest' (newest in checkpoint.dir, if any) or a "
       "checkpoint or folder of checkpoints to continue from"},
  };
  return keys;
}

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string nearest_key(const std::string& key) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const ConfigKey& k : config_keys()) {
    const size_t d = edit_distance(key, k.name);
    if (d < best_d) {
      best_d = d;
      best = k.name;
    }
  }
  return best;
}

template <typename T>
T as(const YAML::Node& n, const std::string& key, const std::string& where) {
  if (!n.IsScalar() && !(std::is_same_v<T, std::vector<int64_t>> && n.IsSequence())) {
    HR_THROW(ConfigError, "{}{}: '{}' is not a valid value", where, key, quote(YAML::Dump(n)));
  }
  try {
    return n.as<T>();
  } catch (const YAML::Exception&) {
    HR_THROW(ConfigError, "{}{}: '{}' is not a valid value", where, key, quote(YAML::Dump(n)));
  }
}

// The documented type of a key ("int", "path", "mf|lightgcn|ngcf"), or "".
std::string type_of(const std::string& key) {
  for (const ConfigKey& k : config_keys()) {
    if (key == k.name) return k.type;
  }
  return "";
}

// A section of keys ("model" for model.type, model.dim, ...), listed.
std::string keys_of_section(const std::string& section) {
  std::string list;
  int shown = 0;
  for (const ConfigKey& k : config_keys()) {
    const std::string name = k.name;
    if (name.rfind(section + ".", 0) != 0) continue;
    if (shown++ < 4) list += (list.empty() ? "" : ", ") + name;
  }
  if (shown > 4) list += ", ...";
  return list;
}

using Setter = std::function<void(TrainConfig&, const YAML::Node&, const std::string&)>;

const std::map<std::string, Setter>& setters() {
  static const std::map<std::string, Setter> s = [] {
    std::map<std::string, Setter> m;
    auto str = [](std::string TrainConfig::*f) {
      return Setter([f](TrainConfig& c, const YAML::Node& n, const std::string& w) {
        c.*f = as<std::string>(n, "", w);
      });
    };
    auto i64 = [](int64_t TrainConfig::*f) {
      return Setter([f](TrainConfig& c, const YAML::Node& n, const std::string& w) {
        c.*f = as<int64_t>(n, "", w);
      });
    };
    auto dbl = [](double TrainConfig::*f) {
      return Setter([f](TrainConfig& c, const YAML::Node& n, const std::string& w) {
        c.*f = as<double>(n, "", w);
      });
    };
    // A list of int, or one int standing for a list of one.
    auto i64_list = [](std::vector<int64_t> TrainConfig::*f) {
      return Setter([f](TrainConfig& c, const YAML::Node& n, const std::string& w) {
        c.*f = n.IsSequence() ? as<std::vector<int64_t>>(n, "", w)
                              : std::vector<int64_t>{as<int64_t>(n, "", w)};
      });
    };
    auto boolean = [](bool TrainConfig::*f) {
      return Setter([f](TrainConfig& c, const YAML::Node& n, const std::string& w) {
        c.*f = as<bool>(n, "", w);
      });
    };
    m["data.dataset"] = str(&TrainConfig::dataset);
    m["data.validation"] = dbl(&TrainConfig::validation);
    m["data.validation_seed"] = i64(&TrainConfig::validation_seed);
    m["data.social"] = str(&TrainConfig::social);
    m["train.plateau_patience"] = i64(&TrainConfig::plateau_patience);
    m["train.init_from"] = str(&TrainConfig::init_from);
    m["checkpoint.keep_best"] = boolean(&TrainConfig::keep_best);
    m["data.parts"] = str(&TrainConfig::parts);
    m["data.item_features"] = str(&TrainConfig::item_features);
    m["data.item_feature_ids"] = str(&TrainConfig::item_feature_ids);
    m["data.user_features"] = str(&TrainConfig::user_features);
    m["data.user_feature_ids"] = str(&TrainConfig::user_feature_ids);
    m["data.missing_features"] = str(&TrainConfig::missing_features);
    m["data.unknown_feature_ids"] = str(&TrainConfig::unknown_feature_ids);
    m["model.type"] = str(&TrainConfig::model_type);
    m["model.dim"] = i64(&TrainConfig::dim);
    m["model.layers"] = i64(&TrainConfig::layers);
    m["model.dropout"] = dbl(&TrainConfig::dropout);
    m["model.features"] = str(&TrainConfig::features);
    m["model.feature_widths"] = i64_list(&TrainConfig::feature_widths);
    m["model.score"] = str(&TrainConfig::score);
    m["train.epochs"] = i64(&TrainConfig::epochs);
    m["train.batch_size"] = i64(&TrainConfig::batch_size);
    m["train.lr"] = dbl(&TrainConfig::lr);
    m["train.weight_decay"] = dbl(&TrainConfig::weight_decay);
    m["train.lr_schedule"] = str(&TrainConfig::lr_schedule);
    m["train.warmup_steps"] = i64(&TrainConfig::warmup_steps);
    m["train.lr_min"] = dbl(&TrainConfig::lr_min);
    m["train.lr_decay"] = dbl(&TrainConfig::lr_decay);
    m["train.lr_decay_epochs"] = i64(&TrainConfig::lr_decay_epochs);
    m["train.seed"] = [](TrainConfig& c, const YAML::Node& n, const std::string& w) {
      c.seed = as<uint64_t>(n, "", w);
    };
    m["train.threads"] = i64(&TrainConfig::threads);
    m["train.max_steps"] = i64(&TrainConfig::max_steps);
    m["train.sampler"] = str(&TrainConfig::sampler);
    m["train.propagation"] = str(&TrainConfig::propagation);
    m["train.fanouts"] = i64_list(&TrainConfig::fanouts);
    m["train.device"] = str(&TrainConfig::device);
    m["train.on_nonfinite"] = str(&TrainConfig::on_nonfinite);
    m["train.loss"] = str(&TrainConfig::loss);
    m["train.negatives"] = i64(&TrainConfig::negatives);
    m["train.margin"] = dbl(&TrainConfig::margin);
    m["train.negative_weight"] = dbl(&TrainConfig::negative_weight);
    m["train.temperature"] = dbl(&TrainConfig::temperature);
    m["train.in_batch_negatives"] = boolean(&TrainConfig::in_batch_negatives);
    m["partition.method"] = str(&TrainConfig::partition_method);
    m["eval.every"] = i64(&TrainConfig::eval_every);
    m["eval.topk"] = i64_list(&TrainConfig::topk);
    m["eval.metric"] = str(&TrainConfig::eval_metric);
    m["eval.patience"] = i64(&TrainConfig::patience);
    m["eval.batch_users"] = i64(&TrainConfig::eval_batch_users);
    m["eval.users"] = i64(&TrainConfig::eval_users);
    m["eval.items"] = str(&TrainConfig::eval_items);
    m["output.dir"] = str(&TrainConfig::output_dir);
    m["comm.backend"] = str(&TrainConfig::comm_backend);
    m["comm.timeout_s"] = i64(&TrainConfig::comm_timeout_s);
    m["checkpoint.dir"] = str(&TrainConfig::checkpoint_dir);
    m["checkpoint.every"] = i64(&TrainConfig::checkpoint_every);
    m["checkpoint.keep"] = i64(&TrainConfig::checkpoint_keep);
    m["checkpoint.resume"] = str(&TrainConfig::resume);
    return m;
  }();
  return s;
}

void set_key(TrainConfig& c, const std::string& key, const YAML::Node& value,
             const std::string& where) {
  auto it = setters().find(key);
  if (it == setters().end()) {
    const std::string section_keys = keys_of_section(key);
    if (!section_keys.empty()) {
      HR_THROW(ConfigError, "{}'{}' should be a mapping of keys ({}), found '{}'", where,
               quote(key), section_keys, quote(YAML::Dump(value), 60));
    }
    HR_THROW(ConfigError, "{}unknown key '{}' (did you mean '{}'?)", where, quote(key),
             nearest_key(key));
  }
  // `key:` with nothing after it is YAML's null, not an empty string.
  if (value.IsNull()) {
    HR_THROW(ConfigError, "{}{}: no value given (expected {}; write '' for an empty string)",
             where, key, type_of(key));
  }
  try {
    it->second(c, value, where);
  } catch (const ConfigError& e) {
    HR_THROW(ConfigError, "{}{}: '{}' is not a valid value (expected {})", where, key,
             quote(YAML::Dump(value), 80), type_of(key));
  }
}

void apply_tree(TrainConfig& c, const YAML::Node& node, const std::string& prefix,
                const std::string& where) {
  if (!node.IsMap()) {
    HR_THROW(ConfigError, "{}'{}' should be a mapping of keys", where,
             prefix.empty() ? "(top)" : quote(prefix));
  }
  std::map<std::string, int> seen;  // key -> line, within this mapping
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) {
      HR_THROW(ConfigError, "{}line {}: a key must be a name, found '{}'", where,
               kv.first.Mark().line + 1, quote(YAML::Dump(kv.first), 60));
    }
    const std::string key = (prefix.empty() ? "" : prefix + ".") + kv.first.as<std::string>();
    const int line = kv.first.Mark().line + 1;
    if (const auto [at, fresh] = seen.emplace(key, line); !fresh) {
      HR_THROW(ConfigError, "{}line {}: key '{}' is given twice (also at line {}); keep one",
               where, line, quote(key), at->second);
    }
    if (kv.second.IsMap()) {
      apply_tree(c, kv.second, key, where);
    } else {
      set_key(c, key, kv.second, where);
    }
  }
}

template <typename T>
void require(bool ok, const char* key, const T& value, const char* expected) {
  if (!ok) HR_THROW(ConfigError, "{}: {} is not valid, expected {}", key, value, expected);
}

bool one_of(const std::string& v, std::initializer_list<const char*> options) {
  for (const char* o : options) {
    if (v == o) return true;
  }
  return false;
}

void validate(const TrainConfig& c) {
  if (c.dataset.empty()) HR_THROW(ConfigError, "data.dataset is required");
  require(one_of(c.model_type, {"mf", "lightgcn", "ngcf"}), "model.type", c.model_type,
          "mf, lightgcn or ngcf");
  require(c.dim >= 1 && c.dim <= 4096, "model.dim", c.dim, "1..4096");
  require(c.layers >= 0 && c.layers <= 16, "model.layers", c.layers, "0..16");
  require(c.dropout >= 0 && c.dropout < 1, "model.dropout", c.dropout, "[0, 1)");
  require(one_of(c.features, {"add", "concat", "only"}), "model.features", c.features,
          "add, concat or only");
  for (int64_t w : c.feature_widths) {
    require(w >= 1 && w <= 65536, "model.feature_widths", w, "values in 1..65536");
  }
  require(one_of(c.missing_features, {"error", "zero"}), "data.missing_features",
          c.missing_features, "error or zero");
  require(one_of(c.unknown_feature_ids, {"error", "cold"}), "data.unknown_feature_ids",
          c.unknown_feature_ids, "error or cold");
  require(c.epochs >= 1, "train.epochs", c.epochs, ">= 1");
  require(c.batch_size >= 1, "train.batch_size", c.batch_size, ">= 1");
  require(c.lr > 0 && std::isfinite(c.lr), "train.lr", c.lr, "a finite number > 0");
  require(c.validation >= 0 && c.validation <= 0.5, "data.validation", c.validation,
          "a fraction in [0, 0.5]");
  require(c.validation_seed >= 0, "data.validation_seed", c.validation_seed, ">= 0");
  require(one_of(c.lr_schedule, {"constant", "cosine", "step", "plateau"}), "train.lr_schedule",
          c.lr_schedule, "constant, cosine, step or plateau");
  require(c.plateau_patience >= 1, "train.plateau_patience", c.plateau_patience, ">= 1");
  // Selection by the test split is not a protocol HaloRec offers.
  if (c.lr_schedule == "plateau" && c.validation <= 0) {
    HR_THROW(ConfigError, "train.lr_schedule: plateau watches a validation metric; set "
             "data.validation (e.g. 0.1) to carve one from train");
  }
  if (c.keep_best && c.validation <= 0) {
    HR_THROW(ConfigError, "checkpoint.keep_best selects by a validation metric; set "
             "data.validation (e.g. 0.1) to carve one from train");
  }
  if ((c.lr_schedule == "plateau" || c.keep_best) && c.eval_every == 0) {
    HR_THROW(ConfigError, "{} needs evaluations: eval.every is 0",
             c.keep_best ? "checkpoint.keep_best" : "train.lr_schedule: plateau");
  }
  require(c.warmup_steps >= 0, "train.warmup_steps", c.warmup_steps, ">= 0");
  require(c.lr_min >= 0 && c.lr_min <= c.lr, "train.lr_min", c.lr_min, "in [0, train.lr]");
  require(c.lr_decay > 0 && c.lr_decay <= 1, "train.lr_decay", c.lr_decay, "in (0, 1]");
  require(c.lr_decay_epochs >= 1, "train.lr_decay_epochs", c.lr_decay_epochs, ">= 1");
  require(c.weight_decay >= 0 && std::isfinite(c.weight_decay), "train.weight_decay",
          c.weight_decay, "a finite number >= 0");
  require(c.threads >= 0 && c.threads <= 1024, "train.threads", c.threads,
          "0..1024 (0: cores / ranks on the node; above the cores: lowered to them)");
  require(c.max_steps >= 0, "train.max_steps", c.max_steps, ">= 0");
  require(one_of(c.sampler, {"uniform", "edge"}), "train.sampler", c.sampler, "uniform or edge");
  require(one_of(c.propagation, {"full", "minibatch"}), "train.propagation", c.propagation,
          "full or minibatch");
  for (int64_t f : c.fanouts) require(f >= 0 && f <= 1000000, "train.fanouts", f, "values in 0..1000000");
  if (c.fanouts.size() > 1 && static_cast<int64_t>(c.fanouts.size()) != c.layers) {
    HR_THROW(ConfigError, "train.fanouts: {} entries, but model.layers is {} (one fanout per "
             "layer, one for every layer, or [] for all neighbours)", c.fanouts.size(), c.layers);
  }
  require(one_of(c.device, {"auto", "cpu", "cuda"}), "train.device", c.device,
          "auto, cpu or cuda");
  require(one_of(c.score, {"dot", "cosine"}), "model.score", c.score, "dot or cosine");
  require(one_of(c.loss, {"bpr", "softmax", "ccl"}), "train.loss", c.loss, "bpr, softmax or ccl");
  require(c.negatives >= 1 && c.negatives <= 1000000, "train.negatives", c.negatives,
          "1..1000000");
  require(c.margin > -1 && c.margin < 1, "train.margin", c.margin, "in (-1, 1)");
  require(c.negative_weight >= 0 && std::isfinite(c.negative_weight), "train.negative_weight",
          c.negative_weight, "a finite number >= 0");
  require(c.temperature > 0 && std::isfinite(c.temperature), "train.temperature",
          c.temperature, "a finite number > 0");
  if (c.in_batch_negatives && c.loss != "softmax") {
    HR_THROW(ConfigError, "train.in_batch_negatives: true needs train.loss: softmax (it is {})",
             c.loss);
  }
  require(one_of(c.on_nonfinite, {"stop", "skip"}), "train.on_nonfinite", c.on_nonfinite,
          "stop or skip");
  require(one_of(c.partition_method, {"metis", "random", "hash", "fennel"}), "partition.method",
          c.partition_method, "metis, random, hash or fennel");
  require(c.eval_every >= 0, "eval.every", c.eval_every, ">= 0");
  require(!c.topk.empty(), "eval.topk", "[]", "a non-empty list");
  for (int64_t k : c.topk) require(k >= 1 && k <= 10000, "eval.topk", k, "values in 1..10000");
  require(c.patience >= 0, "eval.patience", c.patience, ">= 0");
  require(c.eval_batch_users >= 1, "eval.batch_users", c.eval_batch_users, ">= 1");
  require(c.eval_users >= 0, "eval.users", c.eval_users, ">= 0");
  require(one_of(c.eval_items, {"auto", "replicated", "sharded"}), "eval.items", c.eval_items,
          "auto, replicated or sharded");
  bool metric_ok = false;
  for (const char* m : {"recall", "ndcg", "precision", "hitrate"}) {
    for (int64_t k : c.topk) metric_ok |= c.eval_metric == fmt::format("{}@{}", m, k);
  }
  require(metric_ok, "eval.metric", c.eval_metric,
          "recall@K, ndcg@K, precision@K or hitrate@K with K in eval.topk");
  require(!c.output_dir.empty(), "output.dir", "''", "a folder");
  require(one_of(c.comm_backend, {"auto", "mpi", "nccl"}), "comm.backend", c.comm_backend,
          "auto, mpi or nccl");
  require(c.comm_timeout_s >= 0 && c.comm_timeout_s <= 7 * 86400, "comm.timeout_s",
          c.comm_timeout_s, "0..604800 seconds");
  require(c.checkpoint_every >= 0, "checkpoint.every", c.checkpoint_every, ">= 0");
  require(c.checkpoint_keep >= 1, "checkpoint.keep", c.checkpoint_keep, ">= 1");
}

}  // namespace

TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  TrainConfig c;
  if (!path.empty()) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      HR_THROW(ConfigError, "--config '{}' is a folder, expected a YAML file", path);
    }
    YAML::Node root;
    try {
      const std::vector<YAML::Node> docs = YAML::LoadAllFromFile(path);
      if (docs.size() > 1) {
        HR_THROW(ConfigError, "{}: holds {} YAML documents ('---'), a config is one", path,
                 docs.size());
      }
      if (!docs.empty()) root = docs.front();
    } catch (const YAML::BadFile&) {
      HR_THROW(ConfigError, "cannot read config '{}'", path);
    } catch (const YAML::Exception& e) {
      HR_THROW(ConfigError, "{}:{}: {}", path, e.mark.line + 1, e.msg);
    }
    if (!root.IsNull()) apply_tree(c, root, "", path + ": ");
  }
  for (const std::string& o : overrides) {
    const size_t eq = o.find('=');
    if (eq == std::string::npos || eq == 0) {
      HR_THROW(ConfigError, "--set '{}': expected key=value", quote(o));
    }
    const std::string text = o.substr(eq + 1);
    if (text.find_first_not_of(" \t") == std::string::npos) {
      HR_THROW(ConfigError, "--set '{}': no value after '='; write {}='' for an empty string",
               quote(o), o.substr(0, eq));
    }
    YAML::Node value;
    try {
      value = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      HR_THROW(ConfigError, "--set '{}': {}", quote(o), e.msg);
    }
    set_key(c, o.substr(0, eq), value, "--set: ");
  }
  validate(c);
  return c;
}

TrainConfig config_from_yaml(const std::string& text, const std::string& where) {
  TrainConfig c;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    HR_THROW(ConfigError, "{}:{}: {}", where, e.mark.line + 1, e.msg);
  }
  if (!root.IsNull()) apply_tree(c, root, "", where + ": ");
  validate(c);
  return c;
}

double learning_rate(const TrainConfig& c, int64_t step, int64_t steps_per_epoch) {
  double lr = c.lr;
  const int64_t total = std::max<int64_t>(1, c.epochs * steps_per_epoch);
  if (c.lr_schedule == "cosine") {
    const double p = std::min(1.0, static_cast<double>(step) / static_cast<double>(total));
    lr = c.lr_min + 0.5 * (c.lr - c.lr_min) * (1.0 + std::cos(M_PI * p));
  } else if (c.lr_schedule == "step") {
    const int64_t epoch = step / std::max<int64_t>(1, steps_per_epoch);
    lr = c.lr * std::pow(c.lr_decay, static_cast<double>(epoch / c.lr_decay_epochs));
  }
  if (step < c.warmup_steps) {
    lr *= static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  }
  return lr;
}

std::string to_yaml(const TrainConfig& c) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "data" << YAML::Value << YAML::BeginMap << YAML::Key << "dataset"
      << YAML::Value << c.dataset << YAML::Key << "parts" << YAML::Value << c.parts
      << YAML::Key << "item_features" << YAML::Value << c.item_features << YAML::Key
      << "item_feature_ids" << YAML::Value << c.item_feature_ids << YAML::Key << "user_features"
      << YAML::Value << c.user_features << YAML::Key << "user_feature_ids" << YAML::Value
      << c.user_feature_ids << YAML::Key
      << "missing_features" << YAML::Value << c.missing_features << YAML::Key
      << "unknown_feature_ids" << YAML::Value << c.unknown_feature_ids << YAML::Key
      << "validation" << YAML::Value << c.validation << YAML::Key << "validation_seed"
      << YAML::Value << c.validation_seed << YAML::Key << "social" << YAML::Value << c.social
      << YAML::EndMap;
  out << YAML::Key << "model" << YAML::Value << YAML::BeginMap << YAML::Key << "type"
      << YAML::Value << c.model_type << YAML::Key << "dim" << YAML::Value << c.dim << YAML::Key
      << "layers" << YAML::Value << c.layers << YAML::Key << "dropout" << YAML::Value
      << c.dropout << YAML::Key << "features" << YAML::Value << c.features << YAML::Key
      << "feature_widths" << YAML::Value << YAML::Flow << c.feature_widths << YAML::Key << "score"
      << YAML::Value << c.score << YAML::EndMap;
  out << YAML::Key << "train" << YAML::Value << YAML::BeginMap << YAML::Key << "epochs"
      << YAML::Value << c.epochs << YAML::Key << "batch_size" << YAML::Value << c.batch_size
      << YAML::Key << "lr" << YAML::Value << c.lr << YAML::Key << "lr_schedule" << YAML::Value
      << c.lr_schedule << YAML::Key << "warmup_steps" << YAML::Value << c.warmup_steps
      << YAML::Key << "lr_min" << YAML::Value << c.lr_min << YAML::Key << "lr_decay"
      << YAML::Value << c.lr_decay << YAML::Key << "lr_decay_epochs" << YAML::Value
      << c.lr_decay_epochs << YAML::Key << "plateau_patience" << YAML::Value
      << c.plateau_patience << YAML::Key << "weight_decay" << YAML::Value
      << c.weight_decay << YAML::Key << "seed" << YAML::Value << c.seed << YAML::Key << "threads"
      << YAML::Value << c.threads << YAML::Key << "max_steps" << YAML::Value << c.max_steps
      << YAML::Key << "sampler" << YAML::Value << c.sampler << YAML::Key << "propagation"
      << YAML::Value << c.propagation << YAML::Key << "fanouts" << YAML::Value << YAML::Flow
      << c.fanouts << YAML::Key << "device"
      << YAML::Value << c.device << YAML::Key << "on_nonfinite" << YAML::Value << c.on_nonfinite
      << YAML::Key << "init_from" << YAML::Value << c.init_from
      << YAML::Key << "loss" << YAML::Value << c.loss << YAML::Key << "negatives" << YAML::Value
      << c.negatives << YAML::Key << "margin" << YAML::Value << c.margin << YAML::Key
      << "negative_weight" << YAML::Value << c.negative_weight << YAML::Key << "temperature"
      << YAML::Value << c.temperature << YAML::Key << "in_batch_negatives" << YAML::Value
      << c.in_batch_negatives << YAML::EndMap;
  out << YAML::Key << "partition" << YAML::Value << YAML::BeginMap << YAML::Key << "method"
      << YAML::Value << c.partition_method << YAML::EndMap;
  out << YAML::Key << "eval" << YAML::Value << YAML::BeginMap << YAML::Key << "every"
      << YAML::Value << c.eval_every << YAML::Key << "topk" << YAML::Value << YAML::Flow
      << c.topk << YAML::Key << "metric" << YAML::Value << c.eval_metric << YAML::Key
      << "patience" << YAML::Value << c.patience << YAML::Key << "batch_users" << YAML::Value
      << c.eval_batch_users << YAML::Key << "users" << YAML::Value << c.eval_users << YAML::Key
      << "items" << YAML::Value << c.eval_items << YAML::EndMap;
  out << YAML::Key << "output" << YAML::Value << YAML::BeginMap << YAML::Key << "dir"
      << YAML::Value << c.output_dir << YAML::EndMap;
  out << YAML::Key << "comm" << YAML::Value << YAML::BeginMap << YAML::Key << "backend"
      << YAML::Value << c.comm_backend << YAML::Key << "timeout_s" << YAML::Value
      << c.comm_timeout_s << YAML::EndMap;
  out << YAML::Key << "checkpoint" << YAML::Value << YAML::BeginMap << YAML::Key << "dir"
      << YAML::Value << c.checkpoint_dir << YAML::Key << "every" << YAML::Value
      << c.checkpoint_every << YAML::Key << "keep" << YAML::Value << c.checkpoint_keep
      << YAML::Key << "keep_best" << YAML::Value << c.keep_best
      << YAML::Key << "resume" << YAML::Value << c.resume << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace halorec::train

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

const Choices<ModelType> kModelTypes = {
    {"mf", ModelType::kMf}, {"lightgcn", ModelType::kLightgcn}, {"ngcf", ModelType::kNgcf}};
const Choices<Score> kScores = {{"dot", Score::kDot}, {"cosine", Score::kCosine}};
const Choices<LrSchedule> kLrSchedules = {{"constant", LrSchedule::kConstant},
                                          {"cosine", LrSchedule::kCosine},
                                          {"step", LrSchedule::kStep},
                                          {"plateau", LrSchedule::kPlateau}};
const Choices<Propagation> kPropagations = {{"full", Propagation::kFull},
                                            {"minibatch", Propagation::kMinibatch}};
const Choices<OnNonfinite> kOnNonfinite = {{"stop", OnNonfinite::kStop},
                                           {"skip", OnNonfinite::kSkip}};
const Choices<ItemPlacement> kItemPlacements = {{"auto", ItemPlacement::kAuto},
                                                {"replicated", ItemPlacement::kReplicated},
                                                {"sharded", ItemPlacement::kSharded}};

namespace {

// One row per key: its documentation (name, type or choices, default,
// meaning) and how it is read from YAML and written back. Everything about a
// key is here: setters, YAML output, choice checks and docs/config.md's
// table (config_test checks the docs against it) come from this row.
struct KeyRow {
  std::string name, type, default_value, meaning;
  std::string kind;  // what errors say is expected: int, float, bool, list of int, or the type
  std::vector<std::string> choices;  // a choice key's accepted values; empty otherwise
  std::function<void(TrainConfig&, const YAML::Node&, const std::string&)> set;
  std::function<void(const TrainConfig&, YAML::Emitter&)> emit;
};

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

std::vector<std::string> split_choices(const std::string& type) {
  std::vector<std::string> out;
  if (type.find('|') == std::string::npos) return out;
  size_t from = 0;
  for (size_t bar; (bar = type.find('|', from)) != std::string::npos; from = bar + 1) {
    out.push_back(type.substr(from, bar - from));
  }
  out.push_back(type.substr(from));
  return out;
}

// A plain value (string, number, bool, list of int: one int stands for a
// list of one). A string whose type lists choices ("uniform|edge") must be
// one of them.
template <typename T>
KeyRow field(const char* name, T TrainConfig::*member, const char* type, const char* default_value,
             const char* meaning) {
  KeyRow r{name, type, default_value, meaning, type, split_choices(type), nullptr, nullptr};
  if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, uint64_t>) r.kind = "int";
  if constexpr (std::is_same_v<T, double>) r.kind = "float";
  if constexpr (std::is_same_v<T, bool>) r.kind = "bool";
  if constexpr (std::is_same_v<T, std::vector<int64_t>>) r.kind = "list of int";
  r.set = [member](TrainConfig& c, const YAML::Node& n, const std::string& w) {
    if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
      c.*member = n.IsSequence() ? as<T>(n, "", w) : T{as<int64_t>(n, "", w)};
    } else {
      c.*member = as<T>(n, "", w);
    }
  };
  r.emit = [member](const TrainConfig& c, YAML::Emitter& out) {
    if constexpr (std::is_same_v<T, std::vector<int64_t>>) out << YAML::Flow;
    out << c.*member;
  };
  return r;
}

// A key whose value selects code: read once into its enum.
template <typename E>
KeyRow choice(const char* name, E TrainConfig::*member, const Choices<E>& values,
              const char* default_value, const char* meaning) {
  KeyRow r{name, "", default_value, meaning, "", {}, nullptr, nullptr};
  for (const auto& [text, value] : values) {
    r.type += (r.type.empty() ? "" : "|") + std::string(text);
    r.choices.push_back(text);
  }
  r.kind = r.type;
  r.set = [member, &values](TrainConfig& c, const YAML::Node& n, const std::string& w) {
    const std::string text = as<std::string>(n, "", w);
    for (const auto& [t, value] : values) {
      if (text == t) c.*member = value;
    }
  };
  r.emit = [member, &values](const TrainConfig& c, YAML::Emitter& out) {
    out << choice_name(values, c.*member);
  };
  return r;
}

const std::vector<KeyRow>& key_table() {
  static const std::vector<KeyRow> rows = {
      field("data.dataset", &TrainConfig::dataset, "path", "(required)",
            "dataset.h5 from `halorec prepare` or `synth`"),
      field("data.parts", &TrainConfig::parts, "path", "`<output.dir>/parts`",
            "partition folder; made (or remade, with a log line) on the fly by rank 0 when "
            "absent, stale (another dataset fingerprint) or for another rank count"),
      field("data.item_features", &TrainConfig::item_features, "path", "''",
            "content vectors of items: `.h5` with `ids` and `vectors`, or `.npy` with ids in a "
            "text file ([features.md](features.md): from tags, from a language model; cold "
            "items); empty: none"),
      field("data.item_feature_ids", &TrainConfig::item_feature_ids, "path", "`<name>.ids`",
            "for a `.npy` `data.item_features` (`NAME.npy`): the original item id of each row, "
            "one per line"),
      field("data.user_features", &TrainConfig::user_features, "path", "''",
            "content vectors of users, the same formats; their own encoder"),
      field("data.user_feature_ids", &TrainConfig::user_feature_ids, "path", "`<name>.ids`",
            "for a `.npy` `data.user_features`: the original user id of each row, one per line"),
      field("data.missing_features", &TrainConfig::missing_features, "error|zero", "error",
            "a dataset item (user) without a feature row: an error listing them, or zero "
            "features (it keeps its id vector alone)"),
      field("data.unknown_feature_ids", &TrainConfig::unknown_feature_ids, "error|cold", "error",
            "a feature row whose id is not a dataset item (user): an error listing them, or a "
            "cold-start item (user), with content and no interactions, that `export` gives a "
            "vector"),
      field("data.validation", &TrainConfig::validation, "float in [0, 0.5]", "0",
            "carve this fraction of each user's train interactions into a validation split "
            "(round(f × n) of a user's n, at most n − 1; 0: none). Training, its graph and its "
            "sampler leave them out; every evaluation ranks validation (its metrics logged as "
            "`val_recall@20`, ... in metrics.jsonl) and test apart; test ranking masks the "
            "carved records too (they are the user's train interactions), as `halorec evaluate` "
            "does. Early stopping (`eval.patience`), `train.lr_schedule: plateau` and "
            "`checkpoint.keep_best` then watch the validation `eval.metric`, never test. The "
            "carve is made by the partition (`halorec partition --validation`), so it is the "
            "same at every rank count; `export` propagates over the same carved graph. A resume "
            "must use the same carve"),
      field("data.validation_seed", &TrainConfig::validation_seed, "int >= 0", "2020",
            "seed of the carve: a user's draws depend on it and the user's id only"),
      field("data.social", &TrainConfig::social, "path", "''",
            "social edges: a file of user-user pairs `USER USER [WEIGHT]` (original user ids; "
            "tab, comma or space separated; docs/formats.md \"Social edges\") joining the "
            "interest graph as their own relation: undirected user-user edges valued "
            "data.social_weight * w / sqrt(S_u S_v), S the social degrees, beside the "
            "interactions' own normalization. LightGCN and NGCF propagate over them (MF "
            "does not propagate: they change nothing there); the partition is made (or remade) "
            "with them, the halo plans gain the user-user neighbours, and the partition, "
            "checkpoints and exports record the file's SHA-256: a resume with other social edges "
            "is refused, and `export` rebuilds the graph from the same file (`export --social "
            "FILE` names a moved copy). docs/living.md"),
      field("data.social_weight", &TrainConfig::social_weight, "float in [0, 1]", "0.35",
            "the social relation's weight: a user's next layer is the normalized sum over its "
            "items plus this times the normalized sum over its friends (0: social edges left "
            "out). 0.35 was chosen on LastFM's validation carve (docs/living.md \"Social "
            "edges\"). Part of the graph: partitions, checkpoints and exports record it"),
      choice("model.type", &TrainConfig::model_type, kModelTypes, "lightgcn",
            "the model (docs/architecture.md)"),
      field("model.dim", &TrainConfig::dim, "int 1..4096", "64",
            "vector dimension"),
      field("model.layers", &TrainConfig::layers, "int 0..16", "3",
            "propagation layers (lightgcn, ngcf; mf ignores it)"),
      field("model.dropout", &TrainConfig::dropout, "float [0, 1)", "0.1",
            "ngcf message dropout (masks keyed by seed, step, layer and node id)"),
      field("model.features", &TrainConfig::features, "add|concat|only", "add",
            "with `data.item_features` / `data.user_features`: a node's layer-0 vector is id "
            "vector + encoder(features), encoder([id vector, features]), or encoder(features) "
            "alone"),
      field("model.feature_widths", &TrainConfig::feature_widths, "list of int 1..65536", "[256]",
            "hidden widths of the content encoder (an MLP with ReLU; output width `model.dim`); "
            "its weights are replicated, gradients all-reduced"),
      choice("model.score", &TrainConfig::score, kScores, "dot",
            "how a user scores an item: the dot product of their final vectors, or their cosine. "
            "Used by every loss and by training's evaluation; `export` then stores unit vectors "
            "(model.h5 `score = cosine`), so every reader's dot product is the model's score"),
      field("model.filter", &TrainConfig::filter, "none|gfcf|bspm|chebycf", "none",
            "a hybrid: after the last epoch train fits this graph filter (as `halorec baseline "
            "--method`) on the run's train records and scores every user by both parts, each "
            "standardized over the items, mixed by `model.filter_mix`; the filter is refitted "
            "on all of train (the validation carve included) for test and export, and written "
            "to <checkpoint root>/filter.h5, which `export` puts into model.h5. docs/hybrid.md"),
      field("model.filter_mix", &TrainConfig::filter_mix, "auto or float in [0, 1]", "auto",
            "the learned part's weight in a hybrid (0: the filter alone, 1: the learned model "
            "alone); auto picks it from 0, 0.1, ..., 1 by `eval.metric` on the validation carve "
            "(needs `data.validation`)"),
      field("model.filter_mix_users", &TrainConfig::filter_mix_users, "int >= 0", "5000",
            "about this many sampled validation users choose an auto mix; 0: all"),
      field("model.filter_rank", &TrainConfig::filter_rank, "int >= 0", "0",
            "the filter's low-pass basis (top singular vectors of the normalized train "
            "matrix); 0: the method's (gfcf 256, bspm 448, chebycf 512)"),
      field("model.filter_alpha", &TrainConfig::filter_alpha, "float", "-1",
            "weight of the filter's ideal low-pass term; negative: the method's (gfcf 0.3, "
            "bspm 0.2, chebycf 0.2)"),
      field("model.filter_order", &TrainConfig::filter_order, "int 1..100", "8",
            "chebycf: order of the Chebyshev filter"),
      field("model.filter_flatness", &TrainConfig::filter_flatness, "float (0, 1000]", "1.5",
            "chebycf: flatness of the plateau"),
      field("model.filter_beta", &TrainConfig::filter_beta, "float [0, 10]", "0.4",
            "chebycf: power of the degree normalization"),
      field("model.filter_t_sharpen", &TrainConfig::filter_t_sharpen, "float [0, 1000]", "2.5",
            "bspm: length of the sharpening process"),
      field("train.epochs", &TrainConfig::epochs, "int >= 1", "10",
            "epochs to train"),
      field("train.batch_size", &TrainConfig::batch_size, "int >= 1", "2048",
            "global batch: triples per step over all ranks"),
      field("train.lr", &TrainConfig::lr, "finite float > 0", "0.001",
            "Adam learning rate"),
      choice("train.lr_schedule", &TrainConfig::lr_schedule, kLrSchedules, "constant",
            "`constant`: `train.lr` throughout; `cosine`: from `train.lr` down to `train.lr_min` "
            "along half a cosine over all `train.epochs`; `step`: times `train.lr_decay` every "
            "`train.lr_decay_epochs` epochs; `plateau` (reduce on plateau; needs "
            "`data.validation`): times `train.lr_decay`, not below `train.lr_min`, each time "
            "`train.plateau_patience` evaluations in a row did not improve the validation "
            "`eval.metric`. The first three are pure functions of the global step; plateau's "
            "factor is checkpointed; either way a resumed run continues exactly. Epochs of a "
            "non-constant schedule log their `lr` in metrics.jsonl"),
      field("train.warmup_steps", &TrainConfig::warmup_steps, "int >= 0", "0",
            "the first N steps ramp the rate linearly up to the schedule's (large batches with a "
            "scaled-up rate)"),
      field("train.lr_min", &TrainConfig::lr_min, "float in [0, train.lr]", "0",
            "cosine: the rate at the end"),
      field("train.lr_decay", &TrainConfig::lr_decay, "float in (0, 1]", "0.5",
            "step, plateau: the factor"),
      field("train.lr_decay_epochs", &TrainConfig::lr_decay_epochs, "int >= 1", "10",
            "step: epochs between decays"),
      field("train.plateau_patience", &TrainConfig::plateau_patience, "int >= 1", "2",
            "plateau: evaluations without improvement before each decay"),
      field("train.weight_decay", &TrainConfig::weight_decay, "finite float >= 0", "1e-4",
            "L2 weight on the batch's layer-0 vectors (normalized by the global batch size)"),
      field("train.init_from", &TrainConfig::init_from, "path", "''",
            "warm start (`train --init-from DIR`): a checkpoint, or the newest in a folder, of "
            "the same `model.type` and `model.dim` from any dataset and rank count; every node "
            "it knows, matched by original id through its dataset, starts from its row (dense "
            "parameters too when their shapes match), new nodes as in a fresh run; Adam's "
            "moments and the schedule start fresh. A resumable checkpoint of this run "
            "(`checkpoint.resume`) takes precedence. docs/living.md"),
      field("train.seed", &TrainConfig::seed, "int", "2020",
            "seed of initial vectors, sampling, dropout and on-the-fly partitioning"),
      field("train.threads", &TrainConfig::threads, "int 0..1024", "0",
            "intra-op threads per rank; 0: hardware threads / ranks on the node; more than the "
            "machine's cores is lowered to them, with a warning"),
      field("train.max_steps", &TrainConfig::max_steps, "int >= 0", "0",
            "stop after this many steps (smoke runs, timing); 0: no limit"),
      field("train.sampler", &TrainConfig::sampler, "uniform|edge", "uniform",
            "uniform: \\|train\\| triples per epoch, users drawn uniformly among users with "
            "train items (the LightGCN reference); edge: each train interaction once per epoch "
            "in a seeded order"),
      choice("train.propagation", &TrainConfig::propagation, kPropagations, "full",
            "`full`: every step propagates the whole graph (the LightGCN reference: an epoch "
            "costs steps × edges). `minibatch`: a step computes final vectors only for its users "
            "and items (positives, negatives) from their L-hop neighbourhoods, sampled per "
            "`train.fanouts`, with layer-0 rows fetched from their owners and the neighbour "
            "lists from the rows' owners; the step's cost and memory follow the batch, not the "
            "graph. Only the layer-0 rows a step touched are updated (lazy Adam): for MF this is "
            "the cheap step (5.7x faster than `full` on Gowalla at dim 256, where `full` updates "
            "every row and its Adam moments each step; configs/gowalla_mf512.yaml); with content "
            "features the fusion still runs over every owned row each step (it does not scale "
            "yet); evaluation still propagates the whole shard once, without autograd. "
            "Partition-invariant for a given seed like `full` "
            "(tests/train/test_train_invariance.py); with exact neighbourhoods (`fanouts: []`) a "
            "step's forward equals `full`'s (tests/train/train_mpi_test.cc). Architecture and "
            "memory: [architecture.md](architecture.md#minibatch-propagation)"),
      field("train.fanouts", &TrainConfig::fanouts, "list of int in 0..1000000", "[]",
            "minibatch: neighbours sampled per node for each hop from the batch outward (hop 1 "
            "first: `[10, 5]` with 2 layers takes 10 neighbours of each batch node and 5 of each "
            "of those); one entry applies to every hop; 0 or `[]`: all neighbours (exact). A "
            "node with more neighbours than its fanout takes that many distinct ones uniformly, "
            "keyed by (seed, step, layer, node), their weights scaled by degree / fanout, so "
            "each layer is an unbiased estimate of the exact one (for lightgcn and mf; ngcf's "
            "nonlinearity makes its sampled layers approximate). More entries than "
            "`model.layers` or fewer (other than one) is an error"),
      field("train.device", &TrainConfig::device, "auto|cpu|cuda", "auto",
            "where each rank trains (cuda: GPU = node-local rank)"),
      field("train.loss", &TrainConfig::loss, "bpr|softmax|ccl", "bpr",
            "`bpr`: one sampled negative per positive (the LightGCN recipe). `softmax`: sampled "
            "softmax (InfoNCE) of the positive against `train.negatives` uniform negatives, "
            "scores divided by `train.temperature`. `ccl`: SimpleX's cosine contrastive loss, "
            "`(1 - s(u,i+)) + negative_weight * mean_j max(0, s(u,j) - margin)`. The softmax and "
            "ccl negatives are drawn per step (keyed by seed, epoch, step: the same on every "
            "rank, uniform over items, with replacement, not excluding the user's items), "
            "fetched once and scored for the whole batch by one GEMM; L2 covers the batch's "
            "users and positives and, once, the negatives. All normalized by the global batch: "
            "partition-invariant like bpr (tests/train/test_train_invariance.py)"),
      field("train.negatives", &TrainConfig::negatives, "int 1..1000000", "256",
            "softmax, ccl: negatives per step, shared by every positive of the global batch"),
      field("train.margin", &TrainConfig::margin, "float in (-1, 1)", "0.9",
            "ccl: a negative whose score is below the margin costs nothing"),
      field("train.negative_weight", &TrainConfig::negative_weight, "float >= 0", "150",
            "ccl: weight of the mean over negatives"),
      field("train.temperature", &TrainConfig::temperature, "float > 0", "0.1",
            "softmax: scores are divided by it"),
      field("train.in_batch_negatives", &TrainConfig::in_batch_negatives, "bool", "false",
            "softmax only (ConfigError otherwise): the global batch's positives (every rank's, "
            "gathered once per step, the same list on every rank) are negatives too, beside the "
            "`train.negatives` uniform ones; every negative's logit is corrected by −log E[j], "
            "E[j] = B·q_j + n/I its expected count in the step (B positives drawn with q_j, item "
            "j's share of the train records, exact for `train.sampler: edge`; n uniform draws "
            "over I items: the logQ correction, so popular items are not over-penalized), and a "
            "negative that is the triple's own positive item is masked out. Partition-invariant "
            "like every loss. One more [batch, B] GEMM per step"),
      choice("train.on_nonfinite", &TrainConfig::on_nonfinite, kOnNonfinite, "stop",
            "a step whose loss or gradient is NaN or infinite on any rank (checked before the "
            "update, one flag in the step's all-reduce): `stop` ends the run with exit code 3 "
            "and commits nothing of it (the earlier checkpoints stay; the message names the "
            "newest); `skip` drops that step's update, counts it (`skipped_steps` in "
            "metrics.jsonl) and goes on, and stops as `stop` when every step of an epoch was "
            "skipped. Parameters are checked again before every checkpoint: a non-finite one is "
            "never committed"),
      field("partition.method", &TrainConfig::partition_method, "metis|random|hash|fennel", "metis",
            "partitioner for on-the-fly partitioning (docs/partitioning.md)"),
      field("eval.every", &TrainConfig::eval_every, "int >= 0", "1",
            "evaluate every N epochs (and after the last); 0: never"),
      field("eval.topk", &TrainConfig::topk, "list of int", "[20]",
            "cut-offs K of Recall, NDCG, Precision and HitRate"),
      field("eval.metric", &TrainConfig::eval_metric, "string", "recall@20",
            "metric early stopping watches: recall@K, ndcg@K, precision@K or hitrate@K, K in "
            "eval.topk"),
      field("eval.patience", &TrainConfig::patience, "int >= 0", "0",
            "stop after this many evaluations without improvement of eval.metric; 0: off"),
      field("eval.batch_users", &TrainConfig::eval_batch_users, "int >= 1", "1024",
            "users scored per block in evaluation, fewer where a block's scores would pass 256 "
            "MiB (users × items × 4 bytes)"),
      choice("eval.items", &TrainConfig::eval_items, kItemPlacements, "auto",
            "where item vectors live during evaluation. replicated: all-gathered to every rank "
            "(I × D floats each), each rank scores its own users against all items. sharded: "
            "items stay with their owners (I / P × D per rank); every rank scores each round's "
            "user blocks of all ranks against its own items and returns a local top-K per user, "
            "which the user's owner merges (traffic per evaluation: U × D + train items of the "
            "users + U × P × K). The same metrics either way (up to ties of equal scores). auto: "
            "sharded when P > 1 and I × D × 4 bytes pass 128 MiB"),
      field("eval.users", &TrainConfig::eval_users, "int >= 0", "0",
            "evaluate a sample of about this many test users (large runs: scoring every user "
            "against every item costs users × items × dim); user u is in the sample iff a hash "
            "of u alone is below the fraction wanted, so the sample is the same at any rank "
            "count and in `halorec baseline --eval-users N` on the same dataset; 0: every test "
            "user"),
      field("output.dir", &TrainConfig::output_dir, "path", "runs/default",
            "run folder: metrics.jsonl, config.yaml, parts/, checkpoints/. It must be new, empty "
            "or a HaloRec run folder (a `.halorec` marker); a fresh run (no `--resume`) into one "
            "that holds committed checkpoints is refused unless `train --force`, which removes "
            "those checkpoints and the logs, nothing else ([errors.md](errors.md#outputs))"),
      field("comm.backend", &TrainConfig::comm_backend, "auto|mpi|nccl", "auto",
            "auto: nccl when training on CUDA and built with NCCL, else mpi"),
      field("comm.timeout_s", &TrainConfig::comm_timeout_s, "int 0..604800", "600",
            "a collective that waits longer than this for the other ranks (one stopped, hung or "
            "died) ends the whole job with exit code 1 and a message naming the waiting rank and "
            "the operation (`mpi allReduce waited 600 s ...`); MPI collectives are started "
            "non-blocking and polled against the deadline, NCCL ones are aborted "
            "(`ncclCommAbort`). The wait while rank 0 partitions on the fly is not limited. 0: "
            "wait forever"),
      field("checkpoint.dir", &TrainConfig::checkpoint_dir, "path", "`<output.dir>/checkpoints`",
            "where sharded checkpoints go (docs/formats.md); new, empty or HaloRec's own, "
            "checked writable before any work"),
      field("checkpoint.every", &TrainConfig::checkpoint_every, "int >= 0", "1",
            "checkpoint every N epochs, and always at the end and on SIGTERM/SIGUSR1 (then "
            "stop); 0: only at the end and on signals"),
      field("checkpoint.keep", &TrainConfig::checkpoint_keep, "int >= 1", "2",
            "committed checkpoints kept; the newest is never removed before a newer one is "
            "committed"),
      field("checkpoint.keep_best", &TrainConfig::keep_best, "bool", "false",
            "also keep the checkpoint of the best validation `eval.metric` so far, alone in "
            "`<checkpoint.dir>/best` (needs `data.validation`): model selection on validation. "
            "`halorec export --checkpoint <checkpoint.dir>/best` exports it; `--force` removes "
            "it with the run's other checkpoints"),
      field("checkpoint.resume", &TrainConfig::resume, "string", "''",
            "`latest`: continue from the newest committed checkpoint in checkpoint.dir that "
            "every rank can read (an unreadable or inconsistent one is skipped with a warning "
            "naming it; start fresh if there is none at all); a folder of checkpoints: the same "
            "there; one checkpoint: that one or an error. `train --resume DIR` sets it"),
  };
  return rows;
}

}  // namespace

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = [] {
    std::vector<ConfigKey> out;
    for (const KeyRow& r : key_table()) {
      out.push_back({r.name.c_str(), r.type.c_str(), r.default_value.c_str(), r.meaning.c_str()});
    }
    return out;
  }();
  return keys;
}

std::string config_table_markdown() {
  std::string out = "| key | type | default | meaning |\n| --- | --- | --- | --- |\n";
  for (const KeyRow& r : key_table()) {
    std::string type = r.type;
    if (!r.choices.empty()) {
      type.clear();
      for (const std::string& c : r.choices) type += (type.empty() ? "" : ", ") + c;
    }
    out += fmt::format("| `{}` | {} | {} | {} |\n", r.name, type, r.default_value, r.meaning);
  }
  return out;
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

// Names other recommender tools give HaloRec's keys (RecBole, LightGCN's
// code, TorchRec examples), by the last part of the key.
const std::map<std::string, std::string>& key_synonyms() {
  static const std::map<std::string, std::string> m = {
      {"learning_rate", "lr"},       {"learningrate", "lr"},     {"lr_rate", "lr"},
      {"num_epochs", "epochs"},      {"n_epochs", "epochs"},     {"epoch", "epochs"},
      {"max_epochs", "epochs"},      {"embedding_size", "dim"},  {"embedding_dim", "dim"},
      {"emb_dim", "dim"},            {"embed_dim", "dim"},       {"latent_dim", "dim"},
      {"recdim", "dim"},             {"hidden_size", "dim"},     {"n_layers", "layers"},
      {"num_layers", "layers"},      {"layer", "layers"},        {"train_batch_size", "batch_size"},
      {"batch", "batch_size"},       {"bpr_batch", "batch_size"}, {"batchsize", "batch_size"},
      {"reg_weight", "weight_decay"}, {"decay", "weight_decay"}, {"l2", "weight_decay"},
      {"reg", "weight_decay"},       {"neg_num", "negatives"},   {"num_negatives", "negatives"},
      {"neg_sampling", "negatives"}, {"temp", "temperature"},    {"tau", "temperature"},
      {"topks", "topk"},             {"top_k", "topk"},          {"model_type", "type"},
      {"model", "type"},             {"n_threads", "threads"},   {"num_threads", "threads"},
      {"eval_step", "every"},        {"save_dir", "dir"},        {"checkpoint_dir", "dir"}};
  return m;
}

std::string nearest_key(const std::string& key) {
  const size_t dot = key.rfind('.');
  const std::string section = dot == std::string::npos ? "" : key.substr(0, dot);
  const std::string leaf = dot == std::string::npos ? key : key.substr(dot + 1);
  const auto leaf_of = [](const std::string& name) { return name.substr(name.rfind('.') + 1); };
  const auto syn = key_synonyms().find(leaf);
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const ConfigKey& k : config_keys()) {
    const std::string name = k.name;
    const std::string k_section = name.substr(0, name.rfind('.'));
    const size_t other_section = k_section == section ? 0 : 1;
    size_t d = 0;
    if (syn != key_synonyms().end()) {
      if (leaf_of(name) != syn->second) continue;
      d = other_section;
    } else {
      // The leaf decides; another section costs as much as three edits.
      d = 100 + edit_distance(leaf, leaf_of(name)) + 3 * other_section;
    }
    if (d < best_d) {
      best_d = d;
      best = name;
    }
  }
  return best;
}

// What a key's value must be ("int", "path", "mf|lightgcn|ngcf"), or "".
std::string type_of(const std::string& key) {
  for (const KeyRow& r : key_table()) {
    if (key == r.name) return r.kind;
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

const KeyRow* row_of(const std::string& key) {
  for (const KeyRow& r : key_table()) {
    if (r.name == key) return &r;
  }
  return nullptr;
}

// "a, b or c"
std::string either(const std::vector<std::string>& choices) {
  std::string out;
  for (size_t k = 0; k < choices.size(); ++k) {
    out += (k == 0 ? "" : k + 1 == choices.size() ? " or " : ", ") + choices[k];
  }
  return out;
}

void set_key(TrainConfig& c, const std::string& key, const YAML::Node& value,
             const std::string& where) {
  const KeyRow* row = row_of(key);
  if (row == nullptr) {
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
  if (!row->choices.empty()) {
    const std::string text = value.IsScalar() ? value.Scalar() : YAML::Dump(value);
    if (!value.IsScalar() ||
        std::find(row->choices.begin(), row->choices.end(), text) == row->choices.end()) {
      HR_THROW(ConfigError, "{}{}: '{}' is not valid, expected {}", where, key, quote(text, 80),
               either(row->choices));
    }
  }
  try {
    row->set(c, value, where);
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

void validate(const TrainConfig& c) {
  if (c.dataset.empty()) HR_THROW(ConfigError, "data.dataset is required");
  require(c.dim >= 1 && c.dim <= 4096, "model.dim", c.dim, "1..4096");
  require(c.layers >= 0 && c.layers <= 16, "model.layers", c.layers, "0..16");
  require(c.dropout >= 0 && c.dropout < 1, "model.dropout", c.dropout, "[0, 1)");
  for (int64_t w : c.feature_widths) {
    require(w >= 1 && w <= 65536, "model.feature_widths", w, "values in 1..65536");
  }
  if (c.filter != "none") {
    const std::optional<double> mix = filter_mix_value(c);
    if (!mix && c.validation <= 0) {
      HR_THROW(ConfigError, "model.filter_mix: auto chooses the mix on a validation carve; set "
               "data.validation (e.g. 0.1), or give model.filter_mix a number in [0, 1]");
    }
  }
  require(c.filter_mix_users >= 0, "model.filter_mix_users", c.filter_mix_users, ">= 0");
  require(c.filter_rank >= 0 && c.filter_rank <= 65536, "model.filter_rank", c.filter_rank,
          "0..65536");
  require(std::isfinite(c.filter_alpha), "model.filter_alpha", c.filter_alpha, "a finite number");
  require(c.filter_order >= 1 && c.filter_order <= 100, "model.filter_order", c.filter_order,
          "1..100");
  require(c.filter_flatness > 0 && c.filter_flatness <= 1000, "model.filter_flatness",
          c.filter_flatness, "in (0, 1000]");
  require(c.filter_beta >= 0 && c.filter_beta <= 10, "model.filter_beta", c.filter_beta,
          "in [0, 10]");
  require(c.filter_t_sharpen >= 0 && c.filter_t_sharpen <= 1000, "model.filter_t_sharpen",
          c.filter_t_sharpen, "in [0, 1000]");
  require(c.epochs >= 1, "train.epochs", c.epochs, ">= 1");
  require(c.batch_size >= 1, "train.batch_size", c.batch_size, ">= 1");
  require(c.lr > 0 && std::isfinite(c.lr), "train.lr", c.lr, "a finite number > 0");
  require(c.validation >= 0 && c.validation <= 0.5, "data.validation", c.validation,
          "a fraction in [0, 0.5]");
  require(c.validation_seed >= 0, "data.validation_seed", c.validation_seed, ">= 0");
  require(c.social_weight >= 0 && c.social_weight <= 1, "data.social_weight", c.social_weight,
          "in [0, 1]");
  require(c.plateau_patience >= 1, "train.plateau_patience", c.plateau_patience, ">= 1");
  // Selection by the test split is not a protocol HaloRec offers.
  if (c.lr_schedule == LrSchedule::kPlateau && c.validation <= 0) {
    HR_THROW(ConfigError, "train.lr_schedule: plateau watches a validation metric; set "
             "data.validation (e.g. 0.1) to carve one from train");
  }
  if (c.keep_best && c.validation <= 0) {
    HR_THROW(ConfigError, "checkpoint.keep_best selects by a validation metric; set "
             "data.validation (e.g. 0.1) to carve one from train");
  }
  if ((c.lr_schedule == LrSchedule::kPlateau || c.keep_best) && c.eval_every == 0) {
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
  for (int64_t f : c.fanouts) require(f >= 0 && f <= 1000000, "train.fanouts", f, "values in 0..1000000");
  if (c.fanouts.size() > 1 && static_cast<int64_t>(c.fanouts.size()) != c.layers) {
    HR_THROW(ConfigError, "train.fanouts: {} entries, but model.layers is {} (one fanout per "
             "layer, one for every layer, or [] for all neighbours)", c.fanouts.size(), c.layers);
  }
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
  require(c.eval_every >= 0, "eval.every", c.eval_every, ">= 0");
  require(!c.topk.empty(), "eval.topk", "[]", "a non-empty list");
  for (int64_t k : c.topk) require(k >= 1 && k <= 10000, "eval.topk", k, "values in 1..10000");
  require(c.patience >= 0, "eval.patience", c.patience, ">= 0");
  require(c.eval_batch_users >= 1, "eval.batch_users", c.eval_batch_users, ">= 1");
  require(c.eval_users >= 0, "eval.users", c.eval_users, ">= 0");
  bool metric_ok = false;
  for (const char* m : {"recall", "ndcg", "precision", "hitrate"}) {
    for (int64_t k : c.topk) metric_ok |= c.eval_metric == fmt::format("{}@{}", m, k);
  }
  require(metric_ok, "eval.metric", c.eval_metric,
          "recall@K, ndcg@K, precision@K or hitrate@K with K in eval.topk");
  require(!c.output_dir.empty(), "output.dir", "''", "a folder");
  require(c.comm_timeout_s >= 0 && c.comm_timeout_s <= 7 * 86400, "comm.timeout_s",
          c.comm_timeout_s, "0..604800 seconds");
  require(c.checkpoint_every >= 0, "checkpoint.every", c.checkpoint_every, ">= 0");
  require(c.checkpoint_keep >= 1, "checkpoint.keep", c.checkpoint_keep, ">= 1");
}

}  // namespace

std::optional<double> filter_mix_value(const TrainConfig& c) {
  if (c.filter_mix == "auto") return std::nullopt;
  double v = 0;
  size_t used = 0;
  try {
    v = std::stod(c.filter_mix, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != c.filter_mix.size() || !(v >= 0 && v <= 1)) {
    HR_THROW(ConfigError, "model.filter_mix: '{}' is not valid, expected auto or a number in "
             "[0, 1]", c.filter_mix);
  }
  return v;
}

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

std::string to_yaml(const TrainConfig& c) {
  // Sections in the table's order, each key in its section's order.
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::string section;
  for (const KeyRow& r : key_table()) {
    const size_t dot = r.name.find('.');
    if (r.name.substr(0, dot) != section) {
      if (!section.empty()) out << YAML::EndMap;
      section = r.name.substr(0, dot);
      out << YAML::Key << section << YAML::Value << YAML::BeginMap;
    }
    out << YAML::Key << r.name.substr(dot + 1) << YAML::Value;
    r.emit(c, out);
  }
  out << YAML::EndMap << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace halorec::train

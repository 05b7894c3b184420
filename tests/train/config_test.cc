#include "train/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/content_encoder.h"
#include "train/lr_schedule.h"
#include "train/contrastive_step.h"
#include "train/sampler.h"
#include "test_support.h"

namespace halorec::train {
namespace {

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no ConfigError)";
}

TEST(Config, FileThenOverrides) {
  testing::TempDir dir;
  const std::string path = dir.write("c.yaml",
                                     "data:\n  dataset: d.h5\nmodel:\n  type: ngcf\n  dim: 32\n"
                                     "train:\n  lr: 0.01\neval:\n  topk: [10, 20]\n");
  const TrainConfig c = load_config(path, {"train.epochs=7", "eval.topk=[5, 20]", "model.dim=16"});
  EXPECT_EQ(c.dataset, "d.h5");
  EXPECT_EQ(c.model_type, ModelType::kNgcf);
  EXPECT_EQ(c.dim, 16);
  EXPECT_EQ(c.epochs, 7);
  EXPECT_DOUBLE_EQ(c.lr, 0.01);
  EXPECT_EQ(c.topk, (std::vector<int64_t>{5, 20}));
  EXPECT_EQ(c.batch_size, 2048);  // default
  // The effective config reads back to the same values.
  const std::string again = dir.write("again.yaml", to_yaml(c));
  const TrainConfig d = load_config(again, {});
  EXPECT_EQ(to_yaml(d), to_yaml(c));
}

TEST(Config, UnknownKeySuggestsTheNearest) {
  testing::TempDir dir;
  const std::string path = dir.write("c.yaml", "data:\n  dataset: d.h5\ntrain:\n  epohcs: 3\n");
  const std::string m = message_of([&] { load_config(path, {}); });
  EXPECT_NE(m.find("unknown key 'train.epohcs' (did you mean 'train.epochs'?)"), std::string::npos)
      << m;
  EXPECT_NE(message_of([&] { load_config("", {"data.dataset=x", "model.dimm=3"}) ; })
                .find("did you mean 'model.dim'"),
            std::string::npos);
  // Names other tools use lead to HaloRec's key, not the nearest spelling
  // (train.learning_rate once suggested train.margin).
  for (const auto& [given, meant] :
       std::vector<std::pair<std::string, std::string>>{{"train.learning_rate", "train.lr"},
                                                        {"model.embedding_size", "model.dim"},
                                                        {"train.num_epochs", "train.epochs"},
                                                        {"model.n_layers", "model.layers"},
                                                        {"train.reg_weight", "train.weight_decay"}}) {
    const std::string m2 = message_of([&] { load_config("", {"data.dataset=x", given + "=1"}); });
    EXPECT_NE(m2.find("did you mean '" + meant + "'"), std::string::npos) << given << ": " << m2;
  }
}

TEST(Config, BadValuesNameTheKey) {
  EXPECT_NE(message_of([] { load_config("", {"data.dataset=x", "model.type=gcn"}); })
                .find("model.type"),
            std::string::npos);
  EXPECT_NE(message_of([] { load_config("", {"data.dataset=x", "train.lr=fast"}); })
                .find("train.lr"),
            std::string::npos);
  EXPECT_NE(message_of([] { load_config("", {"data.dataset=x", "eval.metric=ndcg@50"}); })
                .find("eval.metric"),
            std::string::npos);
  EXPECT_NE(message_of([] { load_config("", {}); }).find("data.dataset is required"),
            std::string::npos);
  EXPECT_NE(message_of([] { load_config("", {"data.dataset"}); }).find("key=value"),
            std::string::npos);
  EXPECT_NE(message_of([] { load_config("/nonexistent.yaml", {}); }).find("/nonexistent.yaml"),
            std::string::npos);
  // In-batch negatives belong to the sampled softmax only.
  EXPECT_NE(message_of([] {
              load_config("", {"data.dataset=x", "train.loss=ccl", "train.in_batch_negatives=true"});
            }).find("train.in_batch_negatives: true needs train.loss: softmax"),
            std::string::npos);
  EXPECT_NO_THROW(
      load_config("", {"data.dataset=x", "train.loss=softmax", "train.in_batch_negatives=true"}));
}

TEST(Config, MalformedYamlNamesFileAndLine) {
  testing::TempDir dir;
  const std::string path = dir.write("c.yaml", "data:\n  dataset: [unclosed\n");
  const std::string m = message_of([&] { load_config(path, {}); });
  EXPECT_NE(m.find("c.yaml:"), std::string::npos) << m;
}

TEST(Config, AmbiguousYamlIsRefusedNamingKeyAndLine) {
  testing::TempDir dir;
  auto refused = [&](const std::string& text) {
    return message_of([&] { load_config(dir.write("c.yaml", text), {}); });
  };
  // A key twice: last-wins would silently train another model.
  std::string m = refused("data:\n  dataset: d.h5\ntrain:\n  lr: 0.005\n  lr: 50\n");
  EXPECT_NE(m.find("line 5: key 'train.lr' is given twice (also at line 4)"), std::string::npos)
      << m;
  m = refused("data: {dataset: d.h5}\ntrain: {lr: 0.005, lr: 50}\n");
  EXPECT_NE(m.find("'train.lr' is given twice"), std::string::npos) << m;
  m = refused("data: {dataset: d.h5}\n---\ntrain: {lr: 50}\n");
  EXPECT_NE(m.find("2 YAML documents"), std::string::npos) << m;
  // `dir:` with nothing after it is null, not the folder "null".
  m = refused("data: {dataset: d.h5}\noutput:\n  dir:\n");
  EXPECT_NE(m.find("output.dir: no value given"), std::string::npos) << m;
  // A section given a scalar names the section, not an unknown key.
  m = refused("data: {dataset: d.h5}\nmodel: 5\n");
  EXPECT_NE(m.find("'model' should be a mapping of keys (model.type"), std::string::npos) << m;
  // The wrong type names the type the key takes.
  m = message_of([] { load_config("", {"data.dataset=x", "train.epochs=ten"}); });
  EXPECT_NE(m.find("train.epochs: 'ten' is not a valid value (expected int)"), std::string::npos)
      << m;
  m = message_of([] { load_config("", {"data.dataset=x", "train.epochs=[1, 2]"}); });
  EXPECT_NE(m.find("train.epochs"), std::string::npos) << m;
}

TEST(Config, EmptySetValuesAreRefused) {
  std::string m = message_of([] { load_config("", {"data.dataset=x", "output.dir="}); });
  EXPECT_NE(m.find("--set 'output.dir=': no value after '='"), std::string::npos) << m;
  EXPECT_EQ(load_config("", {"data.dataset=x", "data.parts=''"}).parts, "");
  m = message_of([] { load_config("", {"data.dataset=x", "train.threads=2000"}); });
  EXPECT_NE(m.find("train.threads"), std::string::npos) << m;
}

TEST(Config, ShippedConfigsLoad) {
  // Every config the project ships, so a new one cannot be missed.
  std::vector<std::string> paths;
  const std::string dir = std::string(HALOREC_SOURCE_DIR) + "/configs";
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".yaml") paths.push_back(e.path().string());
  }
  ASSERT_GE(paths.size(), 10u);
  for (const std::string& path : paths) EXPECT_NO_THROW(load_config(path, {})) << path;
}

// docs/config.md's table is the key table: the rows between its markers are
// what config_table_markdown() renders from config.cc. On a difference the
// rendered table is written beside the test binary to paste in.
TEST(Config, TheDocsTableIsTheKeyTable) {
  std::ifstream f(std::string(HALOREC_SOURCE_DIR) + "/docs/config.md");
  ASSERT_TRUE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string docs = ss.str();
  const std::string begin = "<!-- config keys: begin -->\n", end = "<!-- config keys: end -->";
  const size_t a = docs.find(begin), b = docs.find(end);
  ASSERT_NE(a, std::string::npos) << "docs/config.md has no '" << begin << "' marker";
  ASSERT_NE(b, std::string::npos) << "docs/config.md has no '" << end << "' marker";
  const std::string table = docs.substr(a + begin.size(), b - a - begin.size());
  const std::string want = config_table_markdown();
  if (table != want) {
    std::ofstream("config_table.md") << want;
    ADD_FAILURE() << "docs/config.md's table differs from config.cc's key table; the table "
                     "config.cc renders is in ./config_table.md (the test's working folder)";
  }
  for (const ConfigKey& k : config_keys()) {
    EXPECT_NE(docs.find(std::string("`") + k.name + "`"), std::string::npos) << k.name;
  }
}

}  // namespace
}  // namespace halorec::train

namespace halorec::train {
namespace {

TEST(Config, LearningRateSchedules) {
  TrainConfig c = load_config("", {"data.dataset=d.h5", "train.lr=0.01", "train.epochs=10"});
  EXPECT_DOUBLE_EQ(learning_rate(c, 0, 100), 0.01);
  EXPECT_DOUBLE_EQ(learning_rate(c, 999, 100), 0.01);
  c = load_config("", {"data.dataset=d.h5", "train.lr=0.01", "train.epochs=10",
                       "train.lr_schedule=cosine", "train.lr_min=0.001"});
  EXPECT_DOUBLE_EQ(learning_rate(c, 0, 100), 0.01);
  EXPECT_NEAR(learning_rate(c, 500, 100), 0.0055, 1e-12);
  EXPECT_NEAR(learning_rate(c, 1000, 100), 0.001, 1e-12);
  EXPECT_GT(learning_rate(c, 400, 100), learning_rate(c, 401, 100));
  c = load_config("", {"data.dataset=d.h5", "train.lr=0.01", "train.lr_schedule=step",
                       "train.lr_decay=0.1", "train.lr_decay_epochs=3"});
  EXPECT_DOUBLE_EQ(learning_rate(c, 299, 100), 0.01);
  EXPECT_NEAR(learning_rate(c, 300, 100), 0.001, 1e-15);
  EXPECT_NEAR(learning_rate(c, 600, 100), 0.0001, 1e-15);
  c = load_config("", {"data.dataset=d.h5", "train.lr=0.01", "train.warmup_steps=4"});
  EXPECT_DOUBLE_EQ(learning_rate(c, 0, 100), 0.0025);
  EXPECT_DOUBLE_EQ(learning_rate(c, 3, 100), 0.01);
  EXPECT_THROW(load_config("", {"data.dataset=d.h5", "train.lr_schedule=linear"}), ConfigError);
  EXPECT_THROW(load_config("", {"data.dataset=d.h5", "train.lr_min=1"}), ConfigError);
}

}  // namespace
}  // namespace halorec::train

namespace halorec::train {
namespace {

// The values a key's documentation lists ("uniform|edge").
std::vector<std::string> documented_values(const std::string& key) {
  for (const ConfigKey& k : config_keys()) {
    if (k.name != key) continue;
    std::vector<std::string> out;
    std::stringstream ss(k.type);
    std::string v;
    while (std::getline(ss, v, '|')) out.push_back(v);
    return out;
  }
  ADD_FAILURE() << key << " is not a config key";
  return {};
}

// Option strings become enums once, at the edge: every documented value of
// the keys that select code parses, and anything else is a ConfigError
// naming the key.
TEST(Config, SelectingKeysParseEveryDocumentedValue) {
  const std::vector<std::string> samplers = documented_values("train.sampler");
  const std::vector<std::string> losses = documented_values("train.loss");
  const std::vector<std::string> modes = documented_values("model.features");
  ASSERT_EQ(samplers.size(), 2u);
  ASSERT_EQ(losses.size(), 3u);
  ASSERT_EQ(modes.size(), 3u);
  std::set<int> seen;
  for (const std::string& v : samplers) seen.insert(static_cast<int>(parse_sampler(v)));
  EXPECT_EQ(seen.size(), samplers.size());
  seen.clear();
  for (const std::string& v : losses) seen.insert(static_cast<int>(parse_loss(v)));
  EXPECT_EQ(seen.size(), losses.size());
  seen.clear();
  for (const std::string& v : modes) seen.insert(static_cast<int>(model::parse_content_mode(v)));
  EXPECT_EQ(seen.size(), modes.size());
  EXPECT_NE(message_of([] { parse_sampler("Uniform"); }).find("train.sampler"), std::string::npos);
  EXPECT_NE(message_of([] { parse_loss("infonce"); }).find("train.loss"), std::string::npos);
  EXPECT_NE(message_of([] { model::parse_content_mode("sum"); }).find("model.features"),
            std::string::npos);
}

}  // namespace
}  // namespace halorec::train

#include "export/start.h"

#include <filesystem>

#include "core/check.h"
#include "core/digest.h"
#include "core/log.h"
#include "data/social.h"
#include "train/run_folders.h"

namespace halorec::exporting {

namespace {

// The first of committed[from..] (newest first) whose identity and config
// read; each one skipped is named, the last one's error is thrown.
void read_newest_from(size_t from, ExportStart* s) {
  for (size_t pick = from;; ++pick) {
    try {
      std::string config_yaml;
      s->id = checkpoint::read_identity(s->committed[pick], &config_yaml);
      s->config = train::config_from_yaml(config_yaml, s->committed[pick] + "/dense.h5:config");
      s->pick = pick;
      return;
    } catch (const std::exception& e) {
      const bool ours = dynamic_cast<const InputError*>(&e) != nullptr ||
                        dynamic_cast<const ConfigError*>(&e) != nullptr;
      if (!ours || pick + 1 >= s->committed.size()) throw;
      log::warn("skipping checkpoint {}: {}; trying the one before it", s->committed[pick],
                e.what());
    }
  }
}

// A relative path in the checkpoint's config (data.dataset, data.social)
// names a file in the folder train ran in, which need not be this one. That
// folder is where the checkpoint's path ends in the config's checkpoint root
// (runs/x/checkpoints): the path is tried there when it is not here.
std::string from_train_folder(const char* key, const std::string& path, const ExportStart& s) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (path.empty() || fs::path(path).is_absolute() || fs::exists(path, ec)) return path;
  const std::string root = fs::path(train::checkpoint_root(s.config)).lexically_normal().generic_string();
  if (root.empty() || fs::path(root).is_absolute()) return path;
  const std::string here = fs::absolute(s.dir()).lexically_normal().generic_string();
  for (size_t at = here.rfind("/" + root); at != std::string::npos && at > 0;
       at = here.rfind("/" + root, at - 1)) {
    const size_t end = at + 1 + root.size();
    if (end != here.size() && here[end] != '/') continue;
    const fs::path candidate = fs::path(here.substr(0, at)) / path;
    if (fs::exists(candidate, ec)) {
      log::info("{} '{}' is not in this folder: using '{}', where train ran", key, path,
                candidate.string());
      return candidate.string();
    }
  }
  return path;
}

}  // namespace

void ExportStart::skip(const std::exception& why) {
  if (pick + 1 >= committed.size()) throw;
  log::warn("skipping checkpoint {}: {}; trying the one before it", committed[pick], why.what());
  read_newest_from(pick + 1, this);
}

ExportStart start_export(const ExportOptions& o) {
  if (o.dtype != "fp32" && o.dtype != "fp16") {
    HR_THROW(UsageError, "--dtype '{}': expected fp32 or fp16", o.dtype);
  }
  ExportStart s;
  s.index = o.index_options;
  s.index.kind = o.index;
  if (!o.index.empty()) {
    serve::check_index_options(s.index);
    serve::require_faiss();
  }
  s.key = o.pseudonymize_key_file.empty()
              ? std::string()
              : read_key_file(o.pseudonymize_key_file, o.allow_readable_key);
  s.committed = checkpoint::list_committed(o.checkpoint);
  if (s.committed.empty()) {
    HR_THROW(InputError, "--checkpoint '{}': no committed checkpoint there", o.checkpoint);
  }
  // (A single checkpoint given by name is used or refused, never replaced.)
  read_newest_from(0, &s);
  s.dataset = o.dataset.empty() ? from_train_folder("data.dataset", s.config.dataset, s) : o.dataset;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(s.dataset, ec)) {
    HR_THROW(InputError, "{} '{}' is not there{}: give --dataset DATASET (the dataset the "
             "checkpoint was trained on)",
             o.dataset.empty() ? "the checkpoint's data.dataset" : "--dataset", s.dataset,
             o.dataset.empty() ? " (nor in the folder train ran in)" : "");
  }
  s.inputs = {{"--checkpoint", o.checkpoint},
              {"--checkpoint", s.dir()},
              {o.dataset.empty() ? "data.dataset of the checkpoint" : "--dataset", s.dataset},
              {"--pseudonymize", o.pseudonymize_key_file},
              {o.social.empty() ? "data.social of the checkpoint" : "--social",
               o.social.empty() ? s.config.social : o.social},
              {"--parts", o.parts}};
  return s;
}

std::string social_file_for(const ExportOptions& o, const ExportStart& s) {
  const std::string& dir = s.dir();
  if (s.id.social_fingerprint.empty()) {
    if (!o.social.empty()) {
      HR_THROW(UsageError, "--social '{}': checkpoint '{}' was trained without social edges",
               o.social, dir);
    }
    return "";
  }
  const std::string path =
      o.social.empty() ? from_train_folder("data.social", s.config.social, s) : o.social;
  const char* named = o.social.empty() ? "data.social of the checkpoint" : "--social";
  std::error_code ec;
  if (path.empty() || !std::filesystem::is_regular_file(path, ec)) {
    HR_THROW(InputError, "checkpoint '{}' was trained with social edges ({} '{}'), and that file "
             "is not there: give --social FILE with the same pairs", dir, named, path);
  }
  const std::string fingerprint =
      data::social_graph_id(data::social_fingerprint(path), s.config.social_weight);
  if (fingerprint != s.id.social_fingerprint) {
    HR_THROW(InputError, "{} '{}' at data.social_weight {} is not the social relation checkpoint "
             "'{}' was trained with (id {}..., the checkpoint's {}...): another file, or a "
             "checkpoint of a version before social edges had their own normalization (train "
             "it again)", named, path, s.config.social_weight, dir, fingerprint.substr(0, 12),
             s.id.social_fingerprint.substr(0, 12));
  }
  return path;
}

}  // namespace halorec::exporting

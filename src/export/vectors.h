#pragma once
// The vectors an export stores: the model of a checkpoint's config run
// forward with the checkpoint's parameters, cold-start rows from the content
// encoders alone, and the model file's description of where they came from.

#include <ATen/core/Tensor.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "comm/exchange_plan.h"
#include "comm/local_communicator.h"
#include "data/dataset.h"
#include "model/model.h"
#include "serve/model_file.h"
#include "train/config.h"
#include "train/content.h"

namespace halorec::exporting {

struct ExportStart;

// A model over a graph held whole by this process: a one-rank communicator
// and no halo. Outlives the models it makes (they point at both).
struct OneProcess {
  comm::LocalCommunicator self;
  comm::ExchangePlan none;
  OneProcess();
  std::unique_ptr<model::Model> model(const train::TrainConfig& c, const model::LocalGraph& g,
                                      const std::vector<int64_t>& ids);
};

// The model's dense parameters (content encoders), set from the checkpoint's.
std::vector<at::Tensor> load_dense(model::Model& net, const checkpoint::Content& content,
                                   const std::string& dir);

// Cold-start items (users): content but no interactions, through the trained
// encoders alone. Undefined when there are none.
at::Tensor cold_vectors(bool items, const train::NodeFeatures& features,
                        const train::TrainConfig& c, const std::vector<at::Tensor>& dense);

// Replaces `m`'s user ids by their pseudonyms under `key` and puts the rows
// in pseudonym order (the warm users, then the last `cold` ones).
void pseudonymize_users(serve::ModelFile& m, const std::string& key, int64_t cold);

// model.h5's description of its source: model, score, layers, dataset,
// training position, dtype, checkpoint, and the user id scheme.
void describe_model(const ExportStart& s, const checkpoint::TrainState& state,
                    const std::string& fingerprint, const std::string& dtype,
                    serve::ModelFile* m);

// The filter part of a trained hybrid (model.filter; train/hybrid.h) for
// this checkpoint: <checkpoint root>/filter.h5 when it was fitted at the
// checkpoint's step, read once; nullopt when there is none. InputError when
// the checkpoint's config names a filter and the part is missing,
// unreadable, of another step or of another dataset.
std::optional<serve::FilterPart> filter_part_for(const ExportStart& s,
                                                 const checkpoint::TrainState& state,
                                                 const std::string& fingerprint);

// Puts the filter part into `m` (a whole model of the dataset's users and
// items): its settings, basis, item counts and mix, and the dataset's train
// rows. UsageError for models with cold rows or pseudonyms.
void attach_filter_part(serve::FilterPart part, const data::Dataset& d, serve::ModelFile* m);

}  // namespace halorec::exporting

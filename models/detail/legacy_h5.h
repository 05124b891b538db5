#pragma once
// Keras 2 whole-model files (tf.keras's model.save("x.h5"), keras/src/saving/legacy/
// hdf5_format.py), read by md::load_model for paths ending in `.h5` or `.hdf5`:
//   attribute model_config       the model's config (Keras 2's form, see models/keras2_config.h)
//   attribute training_config    optimizer_config, loss, metrics: compiled when options.compile
//   /model_weights               attribute layer_names; per layer a group <layer> with attribute
//                                weight_names ("<layer>/kernel:0", ...) naming its datasets,
//                                trainable weights first, then non-trainable ones
//   /optimizer_weights           attribute weight_names: "iteration:0", "Adam/m/dense/kernel:0"
//                                (Keras 2.11+) or "Adam/dense/kernel/m:0" (legacy optimizers)
// The whole file is read and checked before any variable is assigned. Saved layers are matched to
// the model's by name (Keras 2 pairs them by position; a model built from the file's own config
// has the same layers in the same order, so both pair alike).
#include <string>

#include "minidl/models/keras_file.h"
#include "minidl/models/model.h"

namespace minidl::detail {

Model load_legacy_h5_model(const std::string& path, const LoadModelOptions& options);

// The weights of a whole-model file (its /model_weights) or of a weights file from tf.keras 2's
// save_weights("x.h5") (the same groups at the root) into a built model whose layers carry the
// saved layers' names.
void load_legacy_h5_weights(Layer& layer_or_model, const std::string& path);

}  // namespace minidl::detail

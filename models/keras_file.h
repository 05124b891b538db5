#pragma once
// Whole models in Keras 3's `.keras` format (model.save / keras.saving.load_model): a zip of
// metadata.json, config.json (the functional config plus compile_config when compiled) and
// model.weights.h5 (the layout of models/weights_h5.h, with /optimizer/vars once the optimizer
// has stepped or been built). A file minidl writes loads in Keras, and one Keras writes for
// layers minidl has loads here.
//
//   model.save("classifier.keras");                      // or md::save_model(model, ...)
//   md::Model again = md::load_model("classifier.keras");  // compiled, optimizer state restored
//   again.fit(x, y, {.epochs = 2});                       // continues where training stopped
//
// Saving builds the whole archive in memory and replaces the file atomically (a temporary file
// in the same directory, fsync, rename): a crash at any moment leaves the old file or the new
// one. Loading reads and checks the whole archive before returning a model; a damaged file, an
// unknown layer or mismatched weights raise an error naming the file and the problem.
#include <string>

#include "minidl/models/model.h"

namespace minidl {

// Writes `model` to `path`, which must end in `.keras` (Keras's ValueError otherwise). Custom
// layers are written under their registered names (MINIDL_REGISTER_LAYER); an unbuilt model
// is saved with a warning, as Keras does. IOError when the file cannot be written.
void save_model(const Model& model, const std::string& path);

struct LoadModelOptions {
  // Compile the model from the saved compile_config and restore the optimizer's state
  // (Keras's compile=True). When false the model comes back uncompiled.
  bool compile = true;
};

// The model saved in `path`: a `.keras` archive, or a Keras 2 whole-model `.h5`/`.hdf5` file
// (tf.keras's model.save("x.h5"): its model_config, weights, training_config and, where the
// names map, its optimizer state; models/detail/legacy_h5.h). ValueError (Keras's texts) for a
// path without `.keras`, `.h5` or `.hdf5`, or a file
// that does not exist; IOError for a file that is not a zip archive, is truncated or corrupted
// (CRC), or whose weights file is damaged; ValueError for a config naming classes that are not
// registered, weights whose count or shapes do not fit the architecture, or missing members.
Model load_model(const std::string& path, const LoadModelOptions& options = {});

}  // namespace minidl

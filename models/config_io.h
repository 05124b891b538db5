#pragma once
// Whole-graph configs as JSON files (Keras's model.to_json / model_from_json).
//   md::save_config(model, "model.json");
//   md::Model again = md::load_config("model.json");   // same graph, fresh weights
// The file holds md::serialize(model): {"module", "class_name": "Functional", "config",
// "registered_name", "build_config", "compile_config"}; a config Keras 3 writes for the same
// graph loads too, and so does tf.keras 2's model.to_json() (translated by
// models/keras2_config.h). As with Keras's to_json/model_from_json, a compiled model's file
// holds its compile_config ({} when not compiled) and loads compiled (a fresh optimizer: the
// optimizer's state is in .keras and .weights.h5 files, not here).
#include <string>

#include "minidl/core/json.h"
#include "minidl/models/model.h"

namespace minidl {

// Writes atomically: a temporary file in the same directory, flushed, then renamed.
void save_config(const Model& model, const std::string& path);
Model load_config(const std::string& path);

// The model described by a serialized envelope (or a bare Functional config). A Sequential
// config gives the functional Model over its graph (use md::deserialize to get the Sequential).
Model model_from_config(const json& object);

// The whole file as bytes; IOError naming the file when it cannot be read.
std::string read_file(const std::string& path);
// Reads a JSON file; a parse error names the file, line and column.
json read_json_file(const std::string& path);
// Parses JSON text; a parse error names `source` (e.g. "'model.keras'/config.json"), the line
// and the column.
json parse_json_text(const std::string& text, const std::string& source);
// Writes text to `path` atomically (temporary file, fsync, rename).
void write_file_atomically(const std::string& path, const std::string& contents);

}  // namespace minidl

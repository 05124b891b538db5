#include "minidl/models/keras_file.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <ctime>
#include <filesystem>

#include "minidl/core/error.h"
#include "minidl/core/read_limits.h"
#include "minidl/layers/serialization.h"
#include "minidl/models/config_io.h"
#include "minidl/models/detail/legacy_h5.h"
#include "minidl/models/detail/weights_image.h"
#include "minidl/models/detail/zip_archive.h"

namespace minidl {
namespace {

constexpr const char* kConfigMember = "config.json";
constexpr const char* kMetadataMember = "metadata.json";
constexpr const char* kWeightsMember = "model.weights.h5";
// The format version written to metadata.json: the Keras release whose saving_lib this file
// layout follows.
constexpr const char* kKerasFormatVersion = "3.16.0";

const detail::ZipMember* find_member(const std::vector<detail::ZipMember>& members, const std::string& name) {
  for (const detail::ZipMember& m : members) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::string member_names(const std::vector<detail::ZipMember>& members) {
  std::vector<std::string> names;
  for (const detail::ZipMember& m : members) names.push_back("'" + m.name + "'");
  return "[" + fmt::format("{}", fmt::join(names, ", ")) + "]";
}

// The optimizer's saved state, once it has been built (before, Keras writes iteration and
// learning rate only, which a fresh optimizer already holds).
std::vector<Variable> optimizer_state(const Model& model) {
  if (!model.compiled() || !model.optimizer() || model.optimizer()->built_variables().empty()) return {};
  return model.optimizer()->variables();
}

}  // namespace

void save_model(const Model& model, const std::string& path) {
  if (!path.ends_with(".keras")) {
    // saving_api.save_model's text; minidl writes no legacy `.h5` files.
    throw ValueError(fmt::format(
        "Invalid filepath extension for saving. Please add a `.keras` extension for the native Keras format (minidl "
        "does not write legacy `.h5` files; md::save_weights writes `.weights.h5`). Received: filepath={}.",
        path));
  }
  const std::string prefix = fmt::format("Cannot save model to '{}': ", path);
  if (!model.built()) {
    fmt::print(stderr,
               "Warning: You are saving a model that has not yet been built. It might not contain any weights yet. "
               "Consider building the model first by calling it on some data.\n");
  }
  const json config = serialize(model);  // with its compile_config ({} when not compiled), as Keras writes it
  const json metadata{{"keras_version", kKerasFormatVersion},
                      {"date_saved", fmt::format("{:%Y-%m-%d@%H:%M:%S}", fmt::localtime(std::time(nullptr)))},
                      {"producer", "minidl"}};
  const std::vector<Variable> optimizer_variables = optimizer_state(model);
  std::vector<detail::ZipMember> members;
  members.push_back({kMetadataMember, metadata.dump()});
  members.push_back({kConfigMember, config.dump()});
  members.push_back({kWeightsMember, detail::weights_file_image(
                                         model, optimizer_variables.empty() ? nullptr : &optimizer_variables, prefix)});
  write_file_atomically(path, detail::write_zip(members, prefix));
}

Model load_model(const std::string& path, const LoadModelOptions& options) {
  const bool legacy_h5 = (path.ends_with(".h5") && !path.ends_with(".weights.h5")) || path.ends_with(".hdf5");
  if (!path.ends_with(".keras") && !legacy_h5) {
    // saving_api.load_model's text, for the formats minidl reads.
    throw ValueError(fmt::format(
        "File format not supported: filepath={}. md::load_model only supports `.keras` files and legacy `.h5` "
        "files (Keras 3 also reads Orbax checkpoints; md::load_weights reads `.weights.h5` files).",
        path));
  }
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw ValueError(fmt::format("File not found: filepath={}. Please ensure the file is an accessible {}.", path,
                                 legacy_h5 ? "`.h5` file" : "`.keras` zip file"));
  }
  // Everything the file asks for is capped (core/read_limits.h): a damaged config or weights file
  // gets a MemoryError, not an allocation of 2^62 elements.
  const detail::ReadAllocationScope scope(fmt::format("the model file '{}'", path));
  // tf.keras 2's model.save("x.h5") (models/detail/legacy_h5.h).
  if (legacy_h5) return detail::load_legacy_h5_model(path, options);
  const std::string prefix = fmt::format("Cannot load model from '{}': ", path);
  if (std::filesystem::is_directory(path, ec)) {
    throw IOError(prefix + "it is a directory; minidl reads `.keras` zip files, not unzipped model folders.");
  }
  const std::string bytes = read_file(path);
  const std::vector<detail::ZipMember> members = detail::read_zip(bytes, prefix);

  const detail::ZipMember* config_member = find_member(members, kConfigMember);
  if (!config_member) {
    throw ValueError(fmt::format("{}the archive has no {} (it holds {}).", prefix, kConfigMember,
                                 member_names(members)));
  }
  const detail::ZipMember* weights_member = find_member(members, kWeightsMember);
  if (!weights_member) {
    if (find_member(members, "model.weights.npz")) {
      throw ValueError(prefix + "its weights are in model.weights.npz, which minidl does not read; save it with "
                                "Keras's default weights_format='h5'.");
    }
    // saving_lib._load_model_from_fileobj's text.
    throw ValueError(fmt::format("{}Expected a model.weights.h5 or model.weights.npz file (the archive holds {}).",
                                 prefix, member_names(members)));
  }

  json config = parse_json_text(config_member->data, fmt::format("'{}'/{}", path, kConfigMember));
  // The model's own compile_config is applied below (or not, with compile = false, as Keras
  // nulls it then); a nested model's compiles with it, as in Keras.
  json compile_entry = nullptr;
  if (auto it = config.find("compile_config"); it != config.end()) {
    compile_entry = std::move(*it);
    config.erase(it);
  }
  // Everything below builds a new model; nothing escapes until it is complete, so an error
  // never leaves a half-loaded model behind.
  Model model = [&] {
    try {
      return model_from_config(config);
    } catch (const Error& e) {
      throw ValueError(prefix + "its config.json does not describe a model minidl can build: " + e.what());
    } catch (const json::exception& e) {
      throw ValueError(prefix + "its config.json does not describe a model minidl can build: " + e.what());
    }
  }();
  if (options.compile && !compile_entry.is_null() && !(compile_entry.is_object() && compile_entry.empty())) {
    try {
      model.compile_from_config(compile_entry);
    } catch (const Error& e) {
      throw ValueError(prefix + "its compile_config cannot be compiled: " + e.what());
    } catch (const json::exception& e) {
      throw ValueError(prefix + "its compile_config cannot be compiled: " + e.what());
    }
  }
  const std::string weights_prefix = fmt::format("{}{}: ", prefix, kWeightsMember);
  std::vector<Variable> optimizer_variables;
  if (model.compiled()) {
    const std::optional<size_t> saved = detail::weights_file_image_optimizer_count(weights_member->data, weights_prefix);
    optimizer_variables = optimizer_state(model);
    if (saved && *saved != optimizer_variables.size()) {
      // Keras warns and goes on with a fresh optimizer, e.g. for a model saved compiled but
      // untrained (its optimizer then holds only iteration and learning rate).
      fmt::print(stderr,
                 "Warning: Skipping variable loading for optimizer '{}', because it has {} variables whereas the "
                 "saved optimizer has {} variables (file '{}').\n",
                 model.optimizer()->name(), optimizer_variables.size(), *saved, path);
      optimizer_variables.clear();
    } else if (!saved) {
      optimizer_variables.clear();
    }
  }
  detail::load_weights_file_image(model, weights_member->data,
                                  optimizer_variables.empty() ? nullptr : &optimizer_variables, weights_prefix);
  return model;
}

}  // namespace minidl

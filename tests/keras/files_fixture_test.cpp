// Model files Keras wrote, loaded by minidl (issue 12, item 4): for eight compiled models trained
// for 2 epochs, Keras 3.15.1 on JAX 0.10.2 wrote model.keras (model.save), model.weights.h5
// (model.save_weights) and model.json (model.to_json) into tests/data/keras/files/<case>/, and
// files.h5 holds the inputs, Keras's predictions and Keras's next training step from the loaded
// .keras (loss, iterations, every weight and optimizer variable after it). Written by
// tools/keras_reference/generate_fixtures.py --backend jax (fixtures/file_cases.py; the models
// are fixtures/model_cases.py). The demo's model uses a custom layer, RowPosition, which
// examples/fashion_mnist_attention_model.h registers here and fixtures/custom_layers.py in Keras.
//
// Predictions must agree within |minidl - Keras| <= 1e-5 * max(1, |Keras|), and so must the
// next step's loss, weights and optimizer variables.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "fashion_mnist_attention_model.h"
#include "keras/keras_fixture.h"
#include "keras/layer_case.h"

namespace {

constexpr const char* kFile = "files.h5";

struct ModelFiles {
  std::string keras, weights, json;
};

ModelFiles files_of(const kf::FixtureFile& file, const std::string& name) {
  const md::json files = file.json_attribute(name, "files");
  REQUIRE(files.size() == 3);
  const std::string dir = kf::fixture_dir() + "/";
  return {dir + files[0].get<std::string>(), dir + files[1].get<std::string>(), dir + files[2].get<std::string>()};
}

md::ModelInputs model_inputs(const std::vector<md::Tensor>& xs) {
  return xs.size() == 1 ? md::ModelInputs(xs[0]) : md::ModelInputs(xs);
}

void check_predictions(md::Model& model, const kf::FixtureFile& file, const std::string& name, const std::string& how) {
  const std::vector<md::Tensor> xs = file.tensors(name + "/inputs");
  REQUIRE_FALSE(xs.empty());
  const std::vector<md::Tensor> outputs = xs.size() == 1 ? model.call_all(xs[0]) : model.call_all(xs);
  REQUIRE(outputs.size() == 1);
  kf::check_close(outputs[0], file.tensor(name + "/outputs/0"), kf::kTolerance, name + ": predictions after " + how);
}

// Variables against Keras's, in order, with the same paths ("out/kernel"; a model Keras built
// rather than loaded puts its own name in front, which is allowed).
void check_variables(const std::vector<md::Variable>& variables, const std::vector<md::Tensor>& expected,
                     const md::json& keras_paths, bool match_paths, const std::string& what) {
  REQUIRE(variables.size() == expected.size());
  REQUIRE(keras_paths.size() == expected.size());
  for (size_t i = 0; i < variables.size(); ++i) {
    const std::string keras_path = keras_paths[i].get<std::string>();
    if (match_paths) {
      INFO(what << " " << i << ": minidl " << variables[i].path() << ", Keras " << keras_path);
      CHECK((keras_path == variables[i].path() || keras_path.ends_with("/" + variables[i].path())));
    }
    kf::check_close(variables[i].value(), expected[i], kf::kTolerance, what + " " + keras_path);
  }
}

// One train_on_batch on Keras's next batch, compared with Keras's step from the loaded .keras.
void check_next_step(md::Model& model, const kf::FixtureFile& file, const std::string& name) {
  const std::string step = name + "/step";
  const md::Logs logs = model.train_on_batch(model_inputs(file.tensors(step + "/inputs")), file.tensor(step + "/targets/0"));
  kf::check_close(md::Tensor::from_vector({static_cast<float>(logs.at("loss"))}, {}),
                  md::Tensor::from_vector({static_cast<float>(file.doubles(step + "/loss").at(0))}, {}),
                  kf::kTolerance, name + ": the next step's loss");
  CHECK(model.optimizer()->iterations() == static_cast<int64_t>(file.doubles(step + "/iterations").at(0)));
  check_variables(model.weights(), file.tensors(step + "/weights"), file.json_attribute(name, "weight_paths"), true,
                  name + ": after the next step, weight");
  check_variables(model.optimizer()->variables(), file.tensors(step + "/optimizer_variables"),
                  file.json_attribute(name, "optimizer_variable_paths"), false,
                  name + ": after the next step, optimizer variable");
}

}  // namespace

TEST_CASE("Keras model files: the fixture holds the eight models and their files", "[keras][files]") {
  const kf::FixtureFile file(kFile);
  CHECK(file.attribute("", "keras_version") == "3.15.1");
  const std::vector<std::string> names = kf::required_cases(file);
  CHECK(names.size() >= 8);
  std::vector<std::string> optimizers;
  for (const std::string& name : names) {
    const ModelFiles files = files_of(file, name);
    for (const std::string& path : {files.keras, files.weights, files.json}) {
      INFO(path);
      CHECK(std::filesystem::is_regular_file(path));
    }
    optimizers.push_back(file.attribute(name, "optimizer"));
  }
  // One model per optimizer minidl has.
  for (const std::string optimizer : {"SGD", "Adam", "AdamW", "RMSprop", "Adagrad"}) {
    INFO(optimizer);
    CHECK(std::find(optimizers.begin(), optimizers.end(), optimizer) != optimizers.end());
  }
}

TEST_CASE("Keras model files: md::load_model reads Keras's .keras and predicts as Keras", "[keras][files]") {
  const kf::FixtureFile file(kFile);
  for (const std::string& name : kf::required_cases(file)) {
    DYNAMIC_SECTION(name) {
      md::Model model = md::load_model(files_of(file, name).keras);
      CHECK(model.name() == md::read_json_file(files_of(file, name).json).at("config").at("name").get<std::string>());
      REQUIRE(model.compiled());
      CHECK(model.optimizer()->class_name() == file.attribute(name, "optimizer"));
      // Two epochs of four batches: the loaded optimizer continues from step 8.
      CHECK(model.optimizer()->iterations() == static_cast<int64_t>(file.doubles(name + "/step/iterations").at(0)) - 1);
      check_predictions(model, file, name, "md::load_model(model.keras)");
    }
  }
}

TEST_CASE("Keras model files: md::load_config(to_json) + md::load_weights(.weights.h5) predicts as Keras",
          "[keras][files]") {
  const kf::FixtureFile file(kFile);
  for (const std::string& name : kf::required_cases(file)) {
    DYNAMIC_SECTION(name) {
      const ModelFiles files = files_of(file, name);
      md::Model model = md::load_config(files.json);
      // to_json wrote the compile_config, and keras.models.model_from_json compiles from it.
      REQUIRE(model.compiled());
      CHECK(model.optimizer()->class_name() == file.attribute(name, "optimizer"));
      CHECK(model.optimizer()->iterations() == 0);
      md::load_weights(model, files.weights);
      check_predictions(model, file, name, "md::load_config(model.json) and md::load_weights(model.weights.h5)");
    }
  }
}

TEST_CASE("Keras model files: after md::load_model, train_on_batch takes Keras's next step", "[keras][files]") {
  const kf::FixtureFile file(kFile);
  for (const std::string& name : kf::required_cases(file)) {
    DYNAMIC_SECTION(name) {
      md::Model model = md::load_model(files_of(file, name).keras);
      check_next_step(model, file, name);
    }
  }
}

TEST_CASE("Keras model files: the optimizer state of Keras's .weights.h5 also continues training", "[keras][files]") {
  const kf::FixtureFile file(kFile);
  for (const std::string& name : kf::required_cases(file)) {
    DYNAMIC_SECTION(name) {
      const ModelFiles files = files_of(file, name);
      // The graph and compile state from to_json, the weights and optimizer variables from the
      // weights file (Keras writes /optimizer/vars there too).
      md::Model model = md::load_config(files.json);
      REQUIRE(model.compiled());
      md::load_weights(model, files.weights, model.optimizer()->variables());
      check_next_step(model, file, name);
    }
  }
}

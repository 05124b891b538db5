#include "keras/training_case.h"

#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include "keras/layer_case.h"

namespace kf {
namespace {

// Issue 12: per-epoch loss within 1e-4 relative, final weights within 1e-4.
constexpr double kTrainingTolerance = 1e-4;

// Logs against Keras's: the same names, and values (a number or a per-epoch list) within
// kTrainingTolerance.
void check_logs(const md::json& actual, const md::json& expected, const std::string& what) {
  std::set<std::string> keras_keys, minidl_keys;
  for (const auto& [key, value] : expected.items()) keras_keys.insert(key);
  for (const auto& [key, value] : actual.items()) minidl_keys.insert(key);
  INFO(what << " minidl's logs " << actual.dump() << "; Keras's " << expected.dump());
  CHECK(minidl_keys == keras_keys);
  for (const auto& [key, value] : expected.items()) {
    if (!minidl_keys.count(key)) continue;
    const md::json keras_list = value.is_array() ? value : md::json::array({value});
    const md::json minidl_list = actual.at(key).is_array() ? actual.at(key) : md::json::array({actual.at(key)});
    REQUIRE(minidl_list.size() == keras_list.size());
    std::vector<float> keras_values, minidl_values;
    for (const md::json& v : keras_list) keras_values.push_back(v.get<float>());
    for (const md::json& v : minidl_list) minidl_values.push_back(v.get<float>());
    const auto n = static_cast<int64_t>(keras_values.size());
    check_close(md::Tensor::from_vector(minidl_values, {n}), md::Tensor::from_vector(keras_values, {n}),
                    kTrainingTolerance, what + " " + key);
  }
}

// A Sequential made by its constructor from Keras's layers (each deserialized without its
// build_config, so unbuilt): the Sequential builds them in its own name scope, and their weight
// paths must be Keras's for keras.Sequential([...]) ("<model>/dense/kernel").
void check_constructed_sequential(const FixtureFile& file, const std::string& name, const md::json& object) {
  std::vector<md::LayerRef> layers;
  for (md::json layer : object.at("config").at("layers")) {
    layer.erase("build_config");
    layers.emplace_back(md::deserialize(layer));
  }
  const md::Sequential constructed(layers, object.at("config").at("name").get<std::string>());
  std::vector<std::string> paths;
  for (const md::Variable& v : constructed.weights()) paths.push_back(v.path());
  CHECK(paths == string_list(file, name, "constructed_weight_paths"));
}

}  // namespace

void check_training_case(const FixtureFile& file, const std::string& name) {
  INFO(describe(file, name));
  const md::json object = file.json_attribute(name, "config");
  const std::shared_ptr<md::Model> model = std::dynamic_pointer_cast<md::Model>(md::deserialize(object));
  REQUIRE(model);
  if (object.at("class_name") == "Sequential") check_constructed_sequential(file, name, object);
  model->set_weights(file.tensors(name + "/weights"));
  model->compile_from_config(file.json_attribute(name, "compile_config"));

  const md::json fit = file.json_attribute(name, "fit_kwargs");
  const md::ModelInputs inputs(file.tensors(name + "/inputs"));
  const md::Tensor y = file.tensor(name + "/targets/0");
  const md::History history = model->fit(inputs, y,
                                         {.epochs = fit.at("epochs").get<int>(),
                                          .batch_size = fit.at("batch_size").get<int64_t>(),
                                          .verbose = 0,
                                          .validation_split = fit.value("validation_split", 0.0),
                                          .shuffle = fit.at("shuffle").get<bool>()});

  // Keras's History.history: one list per log name.
  md::json logs = md::json::object();
  for (const std::string& key : history.keys()) logs[key] = history[key];
  check_logs(logs, file.json_attribute(name, "history"), "per-epoch");

  const std::vector<md::Tensor> final_weights = file.tensors(name + "/final_weights");
  const std::vector<md::Tensor> weights = model->get_weights();
  REQUIRE(weights.size() == final_weights.size());
  for (size_t i = 0; i < weights.size(); ++i) {
    check_close(weights[i], final_weights[i], kTrainingTolerance, "final weight " + std::to_string(i));
  }
  check_variables(model->optimizer()->variables(), string_list(file, name, "optimizer_variable_paths"),
                      file.tensors(name + "/optimizer_variables"), kTrainingTolerance, "optimizer after fit");

  const md::EvaluateOptions evaluate_options{.batch_size = fit.at("batch_size").get<int64_t>(), .verbose = 0};
  check_logs(model->evaluate(inputs, y, evaluate_options).to_json(), file.json_attribute(name, "evaluation"),
             "evaluate() after fit:");
  check_close(model->predict(inputs, {.batch_size = fit.at("batch_size").get<int64_t>()}),
                  file.tensor(name + "/predictions/0"), kTrainingTolerance, "predict() after fit");
}

}  // namespace kf

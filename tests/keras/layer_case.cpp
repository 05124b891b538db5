#include "keras/layer_case.h"

#include <catch2/catch.hpp>
#include <optional>

namespace kf {
namespace {

// Keras's mask argument from its JSON form: a dataset name, a list of names and nulls, or null.
struct Masks {
  bool given = false;
  bool is_list = false;
  std::vector<md::Tensor> tensors;
};

Masks read_masks(const FixtureFile& file, const std::string& name, const md::json& kwargs) {
  Masks masks;
  if (!kwargs.contains("mask") || kwargs["mask"].is_null()) return masks;
  masks.given = true;
  const md::json& spec = kwargs["mask"];
  masks.is_list = spec.is_array();
  for (const md::json& entry : masks.is_list ? spec : md::json::array({spec})) {
    masks.tensors.push_back(entry.is_null() ? md::Tensor() : as_bool_mask(file.tensor(name + "/" + entry.get<std::string>())));
  }
  return masks;
}

}  // namespace

namespace {

// Steps 1-3 of layer_case.h, and the gradients of step 5.
struct Replay {
  std::vector<md::Tensor> outputs, expected, expected_masks;
  std::vector<md::Tensor> grad_inputs, expected_grad_inputs;  // per input; undefined for integer ones
  std::vector<md::Tensor> grad_weights, expected_grad_weights;
  std::vector<std::string> weight_names;
};

Replay replay(const FixtureFile& file, const std::string& name) {
  const md::json object = file.json_attribute(name, "config");
  const md::json kwargs = file.json_attribute(name, "call_kwargs");
  const std::string structure = file.attribute(name, "input_structure");
  REQUIRE((structure == "single" || structure == "list"));

  std::shared_ptr<md::Layer> layer = md::deserialize(object);
  REQUIRE(layer);
  CHECK(layer->class_name() == file.attribute(name, "class_name"));
  const std::vector<md::Tensor> weights = file.tensors(name + "/weights");
  REQUIRE(layer->get_weights().size() == weights.size());
  layer->set_weights(weights);

  const std::vector<md::Tensor> inputs = file.tensors(name + "/inputs");
  REQUIRE(!inputs.empty());
  md::CallArgs args = structure == "list" ? md::CallArgs::of(inputs) : md::CallArgs::of(inputs.at(0));
  const Masks masks = read_masks(file, name, kwargs);
  if (masks.given) {
    args.set_kwarg("mask", masks.is_list ? args.ref(masks.tensors) : args.ref(masks.tensors.at(0)));
  }
  // Keyword tensors named after inputs (initial_state: ["inputs/1", ...]); those inputs are
  // differentiated like the first.
  if (kwargs.contains("initial_state")) {
    std::vector<md::Tensor> states;
    for (const md::json& ref : kwargs["initial_state"]) {
      const std::string path = ref.get<std::string>();
      REQUIRE(path.rfind("inputs/", 0) == 0);
      states.push_back(inputs.at(std::stoul(path.substr(7))));
    }
    args.set_kwarg("initial_state", args.ref(states));
  }
  for (const char* flag : {"return_attention_scores", "use_causal_mask"}) {
    if (kwargs.contains(flag)) args.set_kwarg(flag, kwargs[flag].get<bool>());
  }
  std::optional<bool> training;
  if (kwargs.contains("training")) training = kwargs["training"].get<bool>();

  Replay r;
  r.expected = file.tensors(name + "/outputs");
  const auto output_count = static_cast<int64_t>(r.expected.size());
  r.expected_masks = file.tensors(name + "/output_masks", output_count);
  r.expected_grad_inputs = file.tensors(name + "/grad_inputs", static_cast<int64_t>(inputs.size()));
  r.expected_grad_weights = file.tensors(name + "/grad_weights");
  const std::vector<md::Tensor> cotangents = file.tensors(name + "/cotangents", output_count);
  const std::vector<md::Variable> trainable = layer->trainable_weights();
  REQUIRE(trainable.size() == r.expected_grad_weights.size());
  for (const md::Variable& w : trainable) r.weight_names.push_back(w.name());

  md::GradientTape tape;
  for (const md::Tensor& x : inputs) tape.watch(x);  // integer inputs are ignored
  r.outputs = layer->invoke(args, training);
  REQUIRE(r.outputs.size() == r.expected.size());

  // Sources: the float inputs (in input order), then the trainable weights.
  std::vector<md::GradSource> sources;
  std::vector<size_t> float_inputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (r.expected_grad_inputs[i].defined()) {
      float_inputs.push_back(i);
      sources.emplace_back(inputs[i]);
    }
  }
  for (const md::Variable& w : trainable) sources.emplace_back(w);
  const std::vector<md::Tensor> grads = tape.gradient(weighted_sum(r.outputs, cotangents), sources);
  REQUIRE(grads.size() == sources.size());
  // An unconnected source is undefined in minidl and zeros in Keras.
  auto or_zeros = [](const md::Tensor& g, const md::Tensor& like) {
    return g.defined() ? g : md::Tensor::zeros(like.shape());
  };
  r.grad_inputs.resize(inputs.size());
  for (size_t k = 0; k < float_inputs.size(); ++k) {
    r.grad_inputs[float_inputs[k]] = or_zeros(grads[k], r.expected_grad_inputs[float_inputs[k]]);
  }
  for (size_t j = 0; j < trainable.size(); ++j) {
    r.grad_weights.push_back(or_zeros(grads[float_inputs.size() + j], r.expected_grad_weights[j]));
  }
  return r;
}

void check_output_mask(const Replay& r, size_t i) {
  INFO("output mask " << i);
  const md::Tensor mask = r.outputs[i].keras_mask();
  if (!r.expected_masks[i].defined()) {
    if (mask.defined()) FAIL_CHECK("output " << i << " has a mask; Keras gives none");
  } else if (!mask.defined()) {
    FAIL_CHECK("output " << i << " has no mask; Keras gives one");
  } else {
    check_close(mask.astype(md::DType::float32), r.expected_masks[i].astype(md::DType::float32), 0.0,
                "output mask " + std::to_string(i));
  }
}

}  // namespace

void check_layer_case(const FixtureFile& file, const std::string& name, const LayerCaseChecks& checks) {
  INFO(describe(file, name));
  const Replay r = replay(file, name);
  for (size_t i = 0; i < r.outputs.size(); ++i) {
    check_close(r.outputs[i], r.expected[i], kTolerance, "output " + std::to_string(i));
    if (i == 0 || checks.later_output_masks) check_output_mask(r, i);
  }
  for (size_t i = 0; i < r.grad_inputs.size(); ++i) {
    if (r.expected_grad_inputs[i].defined()) {
      check_close(r.grad_inputs[i], r.expected_grad_inputs[i], kTolerance, "gradient w.r.t. input " + std::to_string(i));
    }
  }
  for (size_t j = 0; j < r.grad_weights.size(); ++j) {
    check_close(r.grad_weights[j], r.expected_grad_weights[j], kTolerance,
                "gradient w.r.t. trainable weight " + std::to_string(j) + " (" + r.weight_names[j] + ")");
  }
}

void check_later_output_masks(const FixtureFile& file, const std::string& name) {
  INFO(describe(file, name));
  const Replay r = replay(file, name);
  REQUIRE(r.outputs.size() > 1);
  for (size_t i = 1; i < r.outputs.size(); ++i) check_output_mask(r, i);
}

void check_layer_config(const FixtureFile& file, const std::string& name) {
  INFO("case " << name << " of " << file.path());
  const md::json object = file.json_attribute(name, "config");
  std::shared_ptr<md::Layer> layer = md::deserialize(object);
  REQUIRE(layer);
  const md::json again = md::serialize(*layer);
  INFO("Keras's object: " << object.dump() << "\nJSON patch from Keras's to minidl's: "
                           << nlohmann::json::diff(nlohmann::json(object), nlohmann::json(again)).dump());
  CHECK(again["class_name"] == object["class_name"]);
  CHECK(again["module"] == object["module"]);
  CHECK(same_json(again["config"], object["config"]));
  CHECK(same_json(again.value("build_config", md::json()), object.value("build_config", md::json())));
  if (file.attribute(name, "input_structure") == "none") {
    auto input = std::dynamic_pointer_cast<md::layers::InputLayer>(layer);
    REQUIRE(input);
    md::Shape expected;
    for (const md::json& d : file.json_attribute(name, "output_shape")) expected.push_back(d.is_null() ? md::None : d.get<int64_t>());
    CHECK(input->output().shape() == expected);
  }
}

}  // namespace kf

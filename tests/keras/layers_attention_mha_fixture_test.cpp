// Golden fixtures from real Keras for EinsumDense and MultiHeadAttention: outputs, output masks,
// input and weight gradients, configs and build configs.
// Source: tests/data/keras/layers_attention_mha.h5, written by tools/keras_reference/
// generate_fixtures.py --backend jax --only layers_attention_mha.h5 (cases in
// fixtures/attention_mha_layer_cases.py) with Keras 3.15.1 on JAX 0.10.2 (CPU).
#include <catch2/catch.hpp>

#include "keras/layer_case.h"
#include "minidl/minidl.h"

namespace {

bool is_mha(const kf::FixtureFile& file, const std::string& name) {
  return file.attribute(name, "input_structure") == "query_value_key";
}

// A MultiHeadAttention case: Keras's layer with Keras's weights, called on (query, value[, key])
// with the query's and value's and key's masks attached as Keras masks, the attention mask and
// flags as arguments; outputs, output masks and gradients compared as in layer_case.h.
void check_mha_case(const kf::FixtureFile& file, const std::string& name) {
  INFO(kf::describe(file, name));
  const md::json kwargs = file.json_attribute(name, "call_kwargs");
  auto layer = std::dynamic_pointer_cast<md::layers::MultiHeadAttention>(
      md::deserialize(file.json_attribute(name, "config")));
  REQUIRE(layer);
  REQUIRE(layer->built());  // from Keras's build_config (shapes_dict)
  const std::vector<md::Tensor> weights = file.tensors(name + "/weights");
  REQUIRE(layer->get_weights().size() == weights.size());
  layer->set_weights(weights);

  const std::vector<md::Tensor> inputs = file.tensors(name + "/inputs");
  const bool self_attention = kwargs.at("self_attention").get<bool>();
  const bool key_given = kwargs.at("key").get<bool>();
  // Copies sharing storage, so that masks attached here do not stay on the fixture's tensors.
  md::Tensor query = inputs.at(0).reshape(inputs.at(0).shape());
  md::Tensor value = self_attention ? query : inputs.at(1).reshape(inputs.at(1).shape());
  md::Tensor key = key_given ? inputs.back().reshape(inputs.back().shape()) : md::Tensor();
  auto mask = [&](const char* which) {
    return kwargs.contains(which) ? kf::as_bool_mask(file.tensor(name + "/" + kwargs[which].get<std::string>()))
                                  : md::Tensor();
  };
  if (mask("query_mask").defined()) query.set_keras_mask(mask("query_mask"));
  // In self-attention the value is the query, whose Keras mask is the query's: a value mask of
  // its own goes in as the argument (as in the Keras call that wrote the case).
  const md::Tensor value_mask = mask("value_mask");
  if (value_mask.defined() && !self_attention) value.set_keras_mask(value_mask);
  if (mask("key_mask").defined()) key.set_keras_mask(mask("key_mask"));
  md::layers::MultiHeadAttentionCallOptions options{.key = key,
                                                    .value_mask = self_attention ? value_mask : md::Tensor(),
                                                    .attention_mask = mask("attention_mask"),
                                                    .use_causal_mask = kwargs.value("use_causal_mask", false)};
  if (kwargs.contains("training")) options.training = kwargs["training"].get<bool>();
  const bool scores = kwargs.value("return_attention_scores", false);

  md::GradientTape tape;
  std::vector<md::GradSource> sources;
  // Keras's order: the query, the value unless it is the query, the key when given.
  std::vector<md::Tensor> watched = {query};
  if (!self_attention) watched.push_back(value);
  if (key_given) watched.push_back(key);
  for (const md::Tensor& x : watched) {
    tape.watch(x);
    sources.emplace_back(x);
  }
  const size_t input_sources = sources.size();
  REQUIRE(input_sources == inputs.size());
  for (const md::Variable& w : layer->trainable_weights()) sources.emplace_back(w);

  std::vector<md::Tensor> outputs;
  if (scores) {
    auto [out, s] = layer->call_with_scores(query, value, options);
    outputs = {out, s};
  } else {
    outputs = {(*layer)(query, value, options)};
  }
  const std::vector<md::Tensor> expected = file.tensors(name + "/outputs");
  REQUIRE(outputs.size() == expected.size());
  const auto count = static_cast<int64_t>(expected.size());
  const std::vector<md::Tensor> expected_masks = file.tensors(name + "/output_masks", count);
  for (size_t i = 0; i < outputs.size(); ++i) {
    kf::check_close(outputs[i], expected[i], kf::kTolerance, "output " + std::to_string(i));
    const md::Tensor m = outputs[i].keras_mask();
    CHECK(m.defined() == expected_masks[i].defined());
    if (m.defined() && expected_masks[i].defined()) {
      kf::check_close(m.astype(md::DType::float32), expected_masks[i].astype(md::DType::float32), 0.0,
                      "output mask " + std::to_string(i));
    }
  }
  const std::vector<md::Tensor> grads =
      tape.gradient(kf::weighted_sum(outputs, file.tensors(name + "/cotangents", count)), sources);
  const std::vector<md::Tensor> expected_inputs = file.tensors(name + "/grad_inputs");
  const std::vector<md::Tensor> expected_weights = file.tensors(name + "/grad_weights");
  REQUIRE(grads.size() == expected_inputs.size() + expected_weights.size());
  for (size_t i = 0; i < grads.size(); ++i) {
    const bool is_input = i < input_sources;
    const md::Tensor& want = is_input ? expected_inputs[i] : expected_weights[i - input_sources];
    const md::Tensor got = grads[i].defined() ? grads[i] : md::Tensor::zeros(want.shape());
    kf::check_close(got, want, kf::kTolerance,
                    (is_input ? "gradient w.r.t. input " : "gradient w.r.t. weight ") +
                        std::to_string(is_input ? i : i - input_sources));
  }
}

}  // namespace

TEST_CASE("Keras fixtures: EinsumDense and MultiHeadAttention reproduce Keras's outputs and gradients",
          "[keras][layers][mha]") {
  const kf::FixtureFile file("layers_attention_mha.h5");
  CHECK(file.attribute("", "keras_version") == "3.15.1");
  const std::vector<std::string> names = kf::required_cases(file);
  CHECK(names.size() >= 30);
  for (const std::string& name : names) {
    DYNAMIC_SECTION(name) {
      if (is_mha(file, name)) {
        check_mha_case(file, name);
      } else {
        kf::check_layer_case(file, name);
      }
    }
  }
}

TEST_CASE("Keras fixtures: EinsumDense and MultiHeadAttention write Keras's configs and build configs back",
          "[keras][layers][mha][config]") {
  const kf::FixtureFile file("layers_attention_mha.h5");
  for (const std::string& name : kf::required_cases(file)) {
    DYNAMIC_SECTION(name) { kf::check_layer_config(file, name); }
  }
}

TEST_CASE("Keras fixtures: MultiHeadAttention's weights carry Keras's paths", "[keras][layers][mha]") {
  const kf::FixtureFile file("layers_attention_mha.h5");
  auto layer = md::deserialize(file.json_attribute("MHA.cross_key", "config"));
  REQUIRE(layer);
  std::vector<std::string> paths;
  for (const md::Variable& v : layer->weights()) paths.push_back(v.path());
  const std::string n = layer->name();
  CHECK(paths == std::vector<std::string>{n + "/query/kernel", n + "/query/bias", n + "/key/kernel", n + "/key/bias",
                                          n + "/value/kernel", n + "/value/bias", n + "/attention_output/kernel",
                                          n + "/attention_output/bias"});
  CHECK(layer->weights()[0].value().shape() == md::Shape{5, 3, 2});
  CHECK(layer->weights()[2].value().shape() == md::Shape{3, 3, 2});
  CHECK(layer->weights()[4].value().shape() == md::Shape{4, 3, 2});
  CHECK(layer->weights()[6].value().shape() == md::Shape{3, 2, 5});
}

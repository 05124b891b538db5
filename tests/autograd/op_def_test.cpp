// The op definitions (autograd/op_def.h: OpDef, ops::apply, attrs_to_config/attrs_from_call,
// MINIDL_DEFINE_OP) through the public ops: traced nodes and their Keras attributes (Keras 3.16's
// keras/src/ops/numpy.py and nn.py classes), configs that round-trip or are written by hand in
// Keras's form, the tape's op names, gradients through a graph rebuilt from its config.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "autograd_helpers.h"

namespace md = minidl;

namespace op_def_test {

std::shared_ptr<md::Operation> op_of(const md::Tensor& t) { return t.impl()->history->operation; }

// The node's config without its generated name: the attributes alone.
md::json attrs_of(const md::Tensor& t) {
  md::json config = op_of(t)->get_config();
  config.erase("name");
  return config;
}

// The recorded node's arguments in Keras's form (each tensor a {"__tensor__": i} placeholder).
md::json args_of(const md::Tensor& t) {
  return op_of(t)->inbound_nodes().at(static_cast<size_t>(t.impl()->history->node_index))->call_args.args_json();
}

md::json parse(const std::string& text) { return md::json::parse(text); }

// A model in Keras 3.16's functional config form (serialization_lib, functional.py get_config):
// InputLayer "x" of batch shape `shape`, then one node of op class `op` with `config`, called on
// [x<more_args>] with x a __keras_tensor__.
md::Model one_op_model(const std::string& shape, const std::string& module, const std::string& op,
                       const std::string& config, const std::string& more_args = "") {
  const std::string x = R"({"class_name": "__keras_tensor__", "config": {"shape": )" + shape +
                        R"(, "dtype": "float32", "keras_history": ["x", 0, 0]}})";
  const std::string text =
      R"({"name": "hand", "trainable": true, "layers": [{"module": "keras.layers", "class_name": "InputLayer",
          "config": {"batch_shape": )" +
      shape + R"(, "dtype": "float32", "sparse": false, "ragged": false, "name": "x", "optional": false},
          "registered_name": null, "name": "x", "inbound_nodes": []}, {"module": ")" +
      module + R"(", "class_name": ")" + op + R"(", "config": {"name": "node")" +
      (config.empty() ? "" : ", " + config) + R"(}, "registered_name": ")" + op +
      R"(", "name": "node", "inbound_nodes": [{"args": [)" + x + more_args +
      R"(], "kwargs": {}}]}], "input_layers": [["x", 0, 0]], "output_layers": [["node", 0, 0]]})";
  return md::Model::from_config(parse(text));
}

}  // namespace op_def_test

using op_def_test::args_of;
using op_def_test::attrs_of;
using op_def_test::op_of;
using op_def_test::parse;

TEST_CASE("op_def: traced nodes hold the attributes under Keras's keys", "[autograd][op_def][trace]") {
  const md::Tensor x = md::Input({3, 4}, "op_def_x");
  // Sum(axis=None, keepdims=False): one axis is written as an integer, several as a list, all as null.
  const md::Tensor s = md::ops::sum(x, {1}, true);
  CHECK(op_of(s)->class_name() == "Sum");
  CHECK(op_of(s)->module() == "keras.src.ops.numpy");
  CHECK(attrs_of(s) == parse(R"({"axis": 1, "keepdims": true})"));
  CHECK(attrs_of(md::ops::mean(x, {1, 2})) == parse(R"({"axis": [1, 2], "keepdims": false})"));
  CHECK(attrs_of(md::ops::max(x)) == parse(R"({"axis": null, "keepdims": false})"));
  // Clip(x_min, x_max).
  CHECK(attrs_of(md::ops::clip(x, -1.0f, 2.5f)) == parse(R"({"x_min": -1.0, "x_max": 2.5})"));
  // keras.ops.gelu(x, approximate=True): Gelu in keras.src.ops.nn.
  const md::Tensor g = md::ops::gelu(x);
  CHECK(op_of(g)->module() == "keras.src.ops.nn");
  CHECK(attrs_of(g) == parse(R"({"approximate": true})"));
  CHECK(attrs_of(md::ops::gelu(x, false)) == parse(R"({"approximate": false})"));
  // Argmax(axis, keepdims); an int32 result.
  const md::Tensor am = md::ops::argmax(x, 1);
  CHECK(attrs_of(am) == parse(R"({"axis": 1, "keepdims": false})"));
  CHECK(am.dtype() == md::DType::int32);
  CHECK(am.shape() == md::Shape{md::None, 4});
  // Swapaxes(axis1, axis2), Transpose(axes=None), Reshape(newshape), ExpandDims(axis), Squeeze(axis=None).
  CHECK(attrs_of(md::ops::swapaxes(x, 1, -1)) == parse(R"({"axis1": 1, "axis2": -1})"));
  CHECK(attrs_of(md::ops::transpose(x)) == parse(R"({"axes": null})"));
  CHECK(attrs_of(md::ops::transpose(x, {0, 2, 1})) == parse(R"({"axes": [0, 2, 1]})"));
  CHECK(attrs_of(md::ops::reshape(x, {-1, 2, 6})) == parse(R"({"newshape": [-1, 2, 6]})"));
  CHECK(attrs_of(md::ops::expand_dims(x, 1)) == parse(R"({"axis": 1})"));
  CHECK(attrs_of(md::ops::squeeze(md::ops::expand_dims(x, 1))) == parse(R"({"axis": null})"));
  CHECK(attrs_of(md::ops::cast(x, md::DType::int32)) == parse(R"({"dtype": "int32"})"));
  CHECK(op_of(md::ops::cast(x, md::DType::int32))->module() == "keras.src.ops.core");
  // Ops without attributes write only their name.
  CHECK(attrs_of(md::ops::tanh(x)) == md::json::object());
  CHECK(op_of(md::ops::abs(x))->class_name() == "Absolute");
}

TEST_CASE("op_def: positional attributes, list inputs and minidl-only flags in the node's args",
          "[autograd][op_def][trace]") {
  const md::Tensor a = md::Input({3, 4}, "op_def_a");
  const md::Tensor b = md::Input({4, 5}, "op_def_b");
  // keras.ops.power(x, 3.0) records Power with args [x, 3.0]: the exponent is not a config key.
  const md::Tensor p = md::ops::power(a, 3.0f);
  CHECK(op_of(p)->class_name() == "Power");
  CHECK(attrs_of(p) == md::json::object());
  CHECK(args_of(p) == parse(R"([{"__tensor__": 0}, 3.0])"));
  // Keras's Matmul has no transpose flags: minidl writes each only when it is set.
  const md::Tensor m = md::ops::matmul(a, b);
  CHECK(op_of(m)->class_name() == "Matmul");
  CHECK(attrs_of(m) == md::json::object());
  CHECK(args_of(m) == parse(R"([{"__tensor__": 0}, {"__tensor__": 1}])"));
  const md::Tensor ta = md::ops::matmul(a, a, true);
  CHECK(attrs_of(ta) == parse(R"({"transpose_a": true})"));
  CHECK(attrs_of(md::ops::matmul(a, a, false, true)) == parse(R"({"transpose_b": true})"));
  // keras.ops.stack([a, b], axis) and concatenate take one list argument.
  const md::Tensor st = md::ops::stack({a, a}, 1);
  CHECK(args_of(st) == parse(R"([[{"__tensor__": 0}, {"__tensor__": 1}]])"));
  CHECK(attrs_of(st) == parse(R"({"axis": 1})"));
  CHECK(st.shape() == md::Shape{md::None, 2, 3, 4});
}

TEST_CASE("op_def: a functional model of ops round-trips through its config", "[autograd][op_def][config]") {
  md::clear_session();
  const md::Tensor x = md::Input({3, 4}, "x");
  const md::Tensor h = md::ops::gelu(md::ops::matmul(md::ops::power(x, 2.0f), x, false, true), false);  // (3, 3)
  const md::Tensor r = md::ops::sum(md::ops::swapaxes(h, 1, 2), {1}, true);                             // (1, 3)
  const md::Tensor c = md::ops::clip(md::ops::squeeze(r, 1), -0.5f, 2.0f);                              // (3)
  const md::Tensor st = md::ops::stack({c, md::ops::gelu(c)}, -1);                                      // (3, 2)
  const md::Tensor out =
      md::ops::concatenate({md::ops::transpose(st, {0, 2, 1}),
                            md::ops::expand_dims(md::ops::cast(md::ops::argmax(st, -1), md::DType::float32), 1)},
                           1);  // (3, 3)
  md::Model model(x, out, "ops");
  md::Model again = md::Model::from_config(model.get_config());
  CHECK(again.get_config() == model.get_config());
  const md::Tensor data = md::random::normal({2, 3, 4}, 0.0f, 1.0f, 17);
  CHECK(model(data).shape() == md::Shape{2, 3, 3});
  CHECK(again(data).to_vector() == model(data).to_vector());
}

TEST_CASE("op_def: configs written in Keras's form load and run", "[autograd][op_def][config]") {
  using op_def_test::one_op_model;
  const md::Tensor v = md::Tensor::from_vector({1, 5, 2, -3, 4, 0}, {2, 3});
  const std::string numpy = "keras.src.ops.numpy", nn = "keras.src.ops.nn";
  // keras.ops.reshape(x, 6) writes newshape as an integer.
  md::Tensor y = one_op_model("[2, 3]", numpy, "Reshape", R"("newshape": 6)")(v);
  CHECK(y.shape() == md::Shape{6});
  CHECK(y.to_vector() == v.to_vector());
  // keras.ops.power(x, 2.0): args [x, 2.0].
  md::Model power = one_op_model("[null, 3]", numpy, "Power", "", ", 2.0");
  CHECK(power(v).to_vector() == std::vector<float>{1, 25, 4, 9, 16, 0});
  CHECK(power.get_config()["layers"][1]["inbound_nodes"][0]["args"][1] == md::json(2.0));
  y = one_op_model("[null, 3]", numpy, "Swapaxes", R"("axis1": 0, "axis2": 1)")(v);
  CHECK(y.shape() == md::Shape{3, 2});
  CHECK(y.to_vector() == std::vector<float>{1, -3, 5, 4, 2, 0});
  // Transpose(axes=None) reverses the axes.
  y = one_op_model("[null, 3]", numpy, "Transpose", R"("axes": null)")(v);
  CHECK(y.shape() == md::Shape{3, 2});
  CHECK(y.to_vector() == std::vector<float>{1, -3, 5, 4, 2, 0});
  // Argmax's keepdims (md::ops::argmax has no such argument: configs only).
  y = one_op_model("[null, 3]", numpy, "Argmax", R"("axis": 1, "keepdims": true)")(v);
  CHECK(y.shape() == md::Shape{2, 1});
  CHECK(y.dtype() == md::DType::int32);
  CHECK(y.to_vector() == std::vector<float>{1, 1});
  // Gelu(approximate): false is the exact form; an absent key keeps the default (true).
  CHECK(one_op_model("[null, 3]", nn, "Gelu", R"("approximate": false)")(v).to_vector() ==
        md::ops::gelu(v, false).to_vector());
  CHECK(one_op_model("[null, 3]", nn, "Gelu", "")(v).to_vector() == md::ops::gelu(v, true).to_vector());

  // attrs_from_call's errors name the op and the key; Operation::output_spec wraps them in
  // Keras's shape-inference error (keras/src/ops/operation.py compute_output_spec): a ValueError.
  auto wrapped = [](const std::string& op, const std::string& inner) {
    return "Could not automatically infer the output shape / dtype of 'node' (of type " + op + "). Either the `" + op +
           ".call()` method is incorrect, or you need to implement the `" + op +
           ".compute_output_spec() / compute_output_shape()` method. Error encountered:\n\n" + inner;
  };
  CHECK_THROWS_WITH(one_op_model("[null, 3]", numpy, "Power", ""),
                    wrapped("Power", "Power call is missing positional argument 1 ('exponent')."));
  CHECK_THROWS_WITH(one_op_model("[null, 3]", numpy, "Sum", R"("axis": 1, "keepdims": "yes")"),
                    wrapped("Sum", R"(Sum config key 'keepdims' must be a boolean; received "yes".)"));
  CHECK_THROWS_WITH(one_op_model("[null, 3]", numpy, "Swapaxes", R"("axis1": [0], "axis2": 1)"),
                    wrapped("Swapaxes", "Swapaxes config key 'axis1' must be an integer; received [0]."));
  CHECK_THROWS_AS(one_op_model("[null, 3]", numpy, "Sum", R"("keepdims": "yes")"), md::ValueError);
}

// keras.ops.argmax(x) and keras.ops.take(x, indices) default to axis=None, "the flattened
// tensor", and their Argmax/Take nodes then hold "axis": null, which must not read as minidl's
// C++ defaults (-1 for ops::argmax, 0 for ops::take).
TEST_CASE("op_def: Argmax and Take with axis null index the flattened tensor, as Keras",
          "[autograd][op_def][config]") {
  const md::Tensor v = md::Tensor::from_vector({10, 11, 12, 13, 14, 15}, {2, 3});
  const std::string numpy = "keras.src.ops.numpy";
  const md::Tensor y = op_def_test::one_op_model("[2, 3]", numpy, "Argmax", R"("axis": null, "keepdims": false)")(v);
  CHECK(y.shape() == md::Shape{});                // Keras: array(5)
  CHECK(y.to_vector() == std::vector<float>{5});
  md::Model take =
      op_def_test::one_op_model("[2, 3]", numpy, "Take", R"("axis": null)",
                                R"(, {"class_name": "__tensor__", "config": {"value": [4, 0], "dtype": "int32"}})");
  md::Tensor t;
  CHECK_NOTHROW(t = take(v));
  if (t.defined()) CHECK(t.to_vector() == std::vector<float>{14, 10});
}

TEST_CASE("op_def: the tape records ops under their Keras class names", "[autograd][op_def][tape]") {
  const md::Tensor other = md::Tensor::from_vector({0.25f, 2.0f}, {2});
  const std::vector<std::pair<std::string, std::function<md::Tensor(const md::Tensor&)>>> cases = {
      {"Matmul", [](const md::Tensor& w) { return md::ops::matmul(w, w); }},
      {"Power", [](const md::Tensor& w) { return md::ops::power(w, 3.0f); }},
      {"Clip", [](const md::Tensor& w) { return md::ops::clip(w, 0.0f, 1.0f); }},
      {"Gelu", [](const md::Tensor& w) { return md::ops::gelu(w); }},
      {"Square", [](const md::Tensor& w) { return md::ops::square(w); }},
      {"Max", [](const md::Tensor& w) { return md::ops::max(w); }},
      {"Maximum", [other](const md::Tensor& w) { return md::ops::maximum(w, other); }},
  };
  for (const auto& [name, op] : cases) {
    INFO(name);
    md::Variable w(md::Tensor::from_vector({0.5f, 1.5f}, {2}), "w");
    md::GradientTape tape;
    const md::Tensor y = md::ops::sum(op(w.value()));
    w.assign_sub(md::Tensor::from_vector({0.1f, 0.1f}, {2}));
    CHECK_THROWS_WITH(tape.gradient(y, {w}), Catch::StartsWith("One of the tensors saved by op '" + name +
                                                               "' for its gradient was modified in place"));
  }
}

TEST_CASE("op_def: gradients through a graph rebuilt from its config match finite differences",
          "[autograd][op_def][gradcheck]") {
  md::clear_session();
  const md::Tensor x = md::Input({3, 2}, "x");
  // Each attribute travels through the config: Power's positional exponent, Matmul's flag,
  // Swapaxes's axes, Sum's axis and keepdims, Gelu's approximate, Stack's axis.
  const md::Tensor h = md::ops::matmul(md::ops::power(x, 3.0f), x, true, false);                   // (2, 2)
  const md::Tensor r = md::ops::sum(md::ops::gelu(md::ops::swapaxes(h, 1, 2), false), {2}, true);  // (2, 1)
  const md::Tensor out = md::ops::stack({md::ops::squeeze(r, -1), md::ops::tanh(md::ops::squeeze(r, -1))}, 1);
  md::Model model(x, out, "grad_graph");
  md::Model again = md::Model::from_config(model.get_config());
  std::mt19937 rng(811);
  const md::Tensor data = agt::uniform(rng, {2, 3, 2}, -1.0f, 1.0f);
  agt::check_gradients("rebuilt graph", [again](const agt::Inputs& in) mutable { return again(in[0]); }, {data});
  // The rebuilt graph's gradient is the original's.
  auto gradient_of = [&data](md::Model m) {
    md::GradientTape tape;
    tape.watch(data);
    return tape.gradient(md::ops::sum(m(data)), {data})[0];
  };
  agt::check_close(gradient_of(again), gradient_of(model), 1e-6, "rebuilt vs original gradient");
}

TEST_CASE("op_def: gradients on edge shapes the gradcheck files leave out", "[autograd][op_def][gradcheck]") {
  namespace ops = md::ops;
  using In = agt::Inputs;
  std::mt19937 rng(812);
  const md::Tensor s0 = agt::uniform(rng, {}), s1 = agt::uniform(rng, {}), m11 = agt::uniform(rng, {1, 1});
  const md::Tensor u = agt::uniform(rng, {4}), v = agt::uniform(rng, {4}), m23 = agt::uniform(rng, {2, 3});
  const md::Tensor b234 = agt::uniform(rng, {2, 3, 4}), b242 = agt::uniform(rng, {2, 4, 2});
  const std::vector<std::tuple<std::string, md::testing::TensorFunction, In>> cases = {
      {"stack of scalars", [](const In& i) { return ops::square(ops::stack(i)); }, {s0, s1}},
      {"expand_dims of a scalar", [](const In& i) { return ops::square(ops::expand_dims(i[0], 0)); }, {s0}},
      {"squeeze to a scalar", [](const In& i) { return ops::square(ops::squeeze(i[0])); }, {m11}},
      {"swapaxes(1, 1)", [](const In& i) { return ops::square(ops::swapaxes(i[0], 1, 1)); }, {m23}},
      // The flags of a 1-D operand change nothing (there is no pair of axes to swap).
      {"v @ v, both flags", [](const In& i) { return ops::matmul(i[0], i[1], true, true); }, {u, v}},
      {"v @ batched^T", [](const In& i) { return ops::matmul(i[0], i[1], false, true); }, {u, b234}},
      {"batched^T @ v", [](const In& i) { return ops::matmul(i[0], i[1], true, false); }, {b242, v}},
  };
  for (const auto& [name, fn, inputs] : cases) agt::check_gradients(name, fn, inputs);
  CHECK(ops::stack({s0, s1}).shape() == md::Shape{2});
  CHECK(ops::matmul(u, v, true, true).to_vector() == ops::matmul(u, v).to_vector());
}

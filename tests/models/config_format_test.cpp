// Functional configs in Keras's format: what minidl writes (checked against JSON written by hand
// from keras/src/models/functional.py get_config and serialization_lib at Keras 3.16), configs
// that other Keras versions write (3.3, Keras 2), raw ops in graphs, and load_config's errors.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "model_test_helpers.h"

namespace md = minidl;

namespace {

// A KerasTensor reference inside a node's args (serialization_lib's "__keras_tensor__").
std::string kt(const std::string& shape, const std::string& history) {
  return R"({"class_name": "__keras_tensor__", "config": {"shape": )" + shape +
         R"(, "dtype": "float32", "keras_history": )" + history + "}}";
}

const char* kDtypePolicy =
    R"({"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null})";

// Keras 3.16's Dense config with the default initializers.
std::string dense_config(const std::string& name, int units, const std::string& activation) {
  return R"({"name": ")" + name + R"(", "trainable": true, "dtype": )" + kDtypePolicy + R"(, "units": )" +
         std::to_string(units) + R"(, "activation": ")" + activation + R"(", "use_bias": true,
    "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                           "config": {"seed": null, "input_axes": null, "output_axes": null}, "registered_name": null},
    "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null},
    "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null,
    "quantization_config": null})";
}

std::string input_layer_entry(const std::string& name, const std::string& batch_shape) {
  return R"({"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": )" + batch_shape +
         R"(, "dtype": "float32", "sparse": false, "ragged": false, "name": ")" + name +
         R"(", "optional": false}, "registered_name": null, "name": ")" + name + R"(", "inbound_nodes": []})";
}

// The keys of a JSON object in order.
std::vector<std::string> keys_of(const md::json& object) {
  std::vector<std::string> keys;
  for (auto it = object.begin(); it != object.end(); ++it) keys.push_back(it.key());
  return keys;
}

md::Model load_text(const mt::TempDir& dir, const std::string& name, const std::string& text) {
  mt::write_text(dir.file(name), text);
  return md::load_config(dir.file(name));
}

}  // namespace

TEST_CASE("config format: a small graph serializes exactly as Keras 3.16 writes it", "[models][config][format]") {
  md::clear_session();
  const md::Tensor x = md::Input({3}, "x");
  const md::Tensor y = md::layers::Dense({.units = 2, .activation = "relu", .name = "d"})(x);
  md::Model model(x, y, "tiny");

  // functional.py get_config + serialize_keras_object: module/class_name/config/registered_name/
  // build_config/compile_config ({} until compiled; Keras 3.15 writes it too); each layer entry gets "name" and "inbound_nodes" appended; a single input or
  // output tensor is a bare [name, node, tensor] triple (3.4+); only user kwargs are kept (3.10+).
  const std::string expected = R"({
    "module": "keras.src.models.functional",
    "class_name": "Functional",
    "config": {
      "name": "tiny",
      "trainable": true,
      "layers": [)" + input_layer_entry("x", "[null, 3]") +
                               R"(,
        {"module": "keras.layers", "class_name": "Dense", "config": )" +
                               dense_config("d", 2, "relu") + R"(,
         "registered_name": null, "build_config": {"input_shape": [null, 3]}, "name": "d",
         "inbound_nodes": [{"args": [)" +
                               kt("[null, 3]", R"(["x", 0, 0])") +
                               R"(], "kwargs": {}}]}
      ],
      "input_layers": ["x", 0, 0],
      "output_layers": ["d", 0, 0]
    },
    "registered_name": "Functional",
    "build_config": {"input_shape": null},
    "compile_config": {}
  })";
  const md::json written = md::serialize(model);
  CHECK(written.dump(2) == md::json::parse(expected).dump(2));
  CHECK(keys_of(written) == std::vector<std::string>{"module", "class_name", "config", "registered_name",
                                                     "build_config", "compile_config"});
  CHECK(keys_of(written["config"]) ==
        std::vector<std::string>{"name", "trainable", "layers", "input_layers", "output_layers"});
  CHECK(model.get_config() == written["config"]);
  CHECK(model.get_build_config() == md::json{{"input_shape", nullptr}});

  // The hand-written Keras JSON loads into the same graph.
  md::Model again = md::model_from_config(md::json::parse(expected));
  CHECK(md::serialize(again).dump() == written.dump());
  again.set_weights(model.get_weights());
  const md::Tensor data = md::random::normal({4, 3}, 0.0f, 1.0f, 5);
  CHECK(mt::same_bits(again(data), model(data)));
}

// Found by the interop check (scripts/interop.sh): Keras 3.15's to_json (serialize_keras_object)
// writes a model's compile_config ({} until compiled), and model_from_json compiles a model whose
// compile_config is not empty (serialization_lib.deserialize_keras_object); minidl wrote none and
// ignored Keras's, so a compiled model's JSON came back uncompiled on either side.
TEST_CASE("config format: a compiled model's config holds its compile_config and loads compiled, as Keras's "
          "to_json and model_from_json",
          "[models][config][format]") {
  md::clear_session();
  const md::Tensor x = md::Input({3}, "x");
  md::Sequential inner({md::Input({3}, "inner_in"), md::layers::Dense({.units = 2, .name = "inner_dense"})}, "inner");
  md::Model model(x, md::layers::Dense({.units = 1, .name = "head"})(inner(x)), "outer");
  CHECK(md::serialize(model).at("compile_config") == md::json::object());
  CHECK(md::serialize(inner).at("compile_config") == md::json::object());
  // A plain layer has none.
  CHECK_FALSE(md::serialize(*model.get_layer("head")).contains("compile_config"));

  model.compile({.optimizer = md::optim::SGD({.learning_rate = 0.05f, .momentum = 0.5}),
                 .loss = md::losses::Huber({.delta = 0.5}),
                 .metrics = {"mae"}});
  inner.compile({.optimizer = "adam", .loss = "mse"});
  const md::json written = md::serialize(model);
  CHECK(written.at("compile_config") == model.get_compile_config());
  // A nested model's entry carries its own, as Keras's layer entries do.
  CHECK(written.at("config").at("layers").at(1).at("compile_config") == inner.get_compile_config());

  mt::TempDir dir;
  md::save_config(model, dir.file("model.json"));
  md::Model loaded = md::load_config(dir.file("model.json"));
  REQUIRE(loaded.compiled());
  CHECK(loaded.get_compile_config() == model.get_compile_config());
  CHECK(loaded.optimizer()->class_name() == "SGD");
  CHECK(loaded.optimizer()->iterations() == 0);  // a fresh optimizer: its state is not in the config
  CHECK(loaded.loss()->get_config().at("delta") == 0.5);
  const auto nested = std::dynamic_pointer_cast<md::Model>(loaded.get_layer("inner"));
  REQUIRE(nested);
  REQUIRE(nested->compiled());
  CHECK(nested->optimizer()->class_name() == "Adam");
  // Compiled from the config, the model trains.
  const md::Tensor xs = md::random::normal({4, 3}, 0.0f, 1.0f, 3);
  CHECK(std::isfinite(loaded.train_on_batch(xs, md::random::normal({4, 1}, 0.0f, 1.0f, 4)).at("loss")));

  // An empty compile_config is an uncompiled model; a compile_config on a plain layer is an error.
  md::json uncompiled = written;
  uncompiled["compile_config"] = md::json::object();
  CHECK_FALSE(md::model_from_config(uncompiled).compiled());
  md::json layer = md::serialize(*model.get_layer("head"));
  layer["compile_config"] = model.get_compile_config();
  CHECK_THROWS_AS(md::deserialize(layer), md::TypeError);
  CHECK_THROWS_WITH(md::deserialize(layer), "Layer 'head' (Dense) has a compile_config, but only models can be compiled.");
}

TEST_CASE("config format: several inputs are a list of triples, raw ops are Keras op classes",
          "[models][config][format][ops]") {
  md::clear_session();
  const md::Tensor a = md::Input({4}, "a");
  const md::Tensor b = md::Input({4}, "b");
  const md::Tensor sum = a + b;                        // keras.src.ops.numpy Add
  const md::Tensor doubled = sum * 2.0f;               // Multiply with a scalar constant
  const md::Tensor probs = md::ops::softmax(doubled);  // keras.src.ops.nn Softmax
  md::Model model({a, b}, {probs}, "ops_graph");
  CHECK(mt::names_of(model.operations()) == std::vector<std::string>{"a", "b", "add", "multiply", "softmax"});
  CHECK(mt::names_of(model.layers()) == std::vector<std::string>{"a", "b"});  // ops are not layers
  CHECK(model.weights().empty());

  const md::json config = model.get_config();
  const std::string expected_layers = "[" + input_layer_entry("a", "[null, 4]") + "," +
                                      input_layer_entry("b", "[null, 4]") + R"(,
    {"module": "keras.src.ops.numpy", "class_name": "Add", "config": {"name": "add"}, "registered_name": "Add",
     "name": "add", "inbound_nodes": [{"args": [)" +
                                      kt("[null, 4]", R"(["a", 0, 0])") + ", " + kt("[null, 4]", R"(["b", 0, 0])") +
                                      R"(], "kwargs": {}}]},
    {"module": "keras.src.ops.numpy", "class_name": "Multiply", "config": {"name": "multiply"},
     "registered_name": "Multiply", "name": "multiply",
     "inbound_nodes": [{"args": [)" + kt("[null, 4]", R"(["add", 0, 0])") +
                                      R"(, 2.0], "kwargs": {}}]},
    {"module": "keras.src.ops.nn", "class_name": "Softmax", "config": {"name": "softmax", "axis": -1},
     "registered_name": "Softmax", "name": "softmax",
     "inbound_nodes": [{"args": [)" + kt("[null, 4]", R"(["multiply", 0, 0])") +
                                      R"(], "kwargs": {}}]}
  ])";
  CHECK(config["layers"].dump(2) == md::json::parse(expected_layers).dump(2));
  CHECK(config["input_layers"] == md::json::parse(R"([["a", 0, 0], ["b", 0, 0]])"));
  CHECK(config["output_layers"] == md::json::parse(R"([["softmax", 0, 0]])"));

  // Reload: the ops come back as ops with their names and compute the same values.
  mt::TempDir dir;
  md::save_config(model, dir.file("ops.json"));
  md::Model again = md::load_config(dir.file("ops.json"));
  CHECK(again.get_config().dump() == config.dump());
  CHECK(mt::names_of(again.operations()) == mt::names_of(model.operations()));
  const md::Tensor xa = md::random::normal({3, 4}, 0.0f, 1.0f, 1);
  const md::Tensor xb = md::random::normal({3, 4}, 0.0f, 1.0f, 2);
  const md::Tensor expected = md::ops::softmax((xa + xb) * 2.0f);
  CHECK(mt::same_bits(model({xa, xb}), expected));
  CHECK(mt::same_bits(again({xa, xb}), expected));
}

TEST_CASE("config format: a config written by Keras 3.3 loads", "[models][config][compat]") {
  md::clear_session();
  // Keras 3.3.x: the model is "functional_1" (Functional.__init__ runs twice), dtype is a plain
  // string, input/output layers are always lists of triples, and the recorded kwargs hold the
  // injected training/mask values.
  const std::string keras33 = R"({
    "module": "keras.src.models.functional", "class_name": "Functional",
    "config": {
      "name": "functional_1", "trainable": true,
      "layers": [
        {"module": "keras.layers", "class_name": "InputLayer",
         "config": {"batch_shape": [null, 4], "dtype": "float32", "sparse": false, "name": "input_layer"},
         "registered_name": null, "name": "input_layer", "inbound_nodes": []},
        {"module": "keras.layers", "class_name": "Dense",
         "config": {"name": "dense", "trainable": true, "dtype": "float32", "units": 3, "activation": "relu",
                    "use_bias": true,
                    "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                           "config": {"seed": null}, "registered_name": null},
                    "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                                         "registered_name": null},
                    "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null,
                    "bias_constraint": null},
         "registered_name": null, "build_config": {"input_shape": [null, 4]}, "name": "dense",
         "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__",
                                      "config": {"shape": [null, 4], "dtype": "float32",
                                                 "keras_history": ["input_layer", 0, 0]}}],
                            "kwargs": {}}]},
        {"module": "keras.layers", "class_name": "Dropout",
         "config": {"name": "dropout", "trainable": true, "dtype": "float32", "rate": 0.5, "seed": null,
                    "noise_shape": null},
         "registered_name": null, "name": "dropout",
         "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__",
                                      "config": {"shape": [null, 3], "dtype": "float32",
                                                 "keras_history": ["dense", 0, 0]}}],
                            "kwargs": {"training": false, "mask": null}}]},
        {"module": "keras.layers", "class_name": "Dense",
         "config": {"name": "dense_1", "trainable": true, "dtype": "float32", "units": 2, "activation": "linear",
                    "use_bias": true,
                    "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                           "config": {"seed": null}, "registered_name": null},
                    "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                                         "registered_name": null},
                    "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null,
                    "bias_constraint": null},
         "registered_name": null, "build_config": {"input_shape": [null, 3]}, "name": "dense_1",
         "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__",
                                      "config": {"shape": [null, 3], "dtype": "float32",
                                                 "keras_history": ["dropout", 0, 0]}}],
                            "kwargs": {}}]}
      ],
      "input_layers": [["input_layer", 0, 0]],
      "output_layers": [["dense_1", 0, 0]]
    },
    "registered_name": "Functional", "build_config": {"input_shape": null}
  })";
  mt::TempDir dir;
  md::Model model = load_text(dir, "keras33.json", keras33);
  CHECK(model.name() == "functional_1");
  CHECK(mt::names_of(model.operations()) == std::vector<std::string>{"input_layer", "dense", "dropout", "dense_1"});
  CHECK(model.count_params() == 4 * 3 + 3 + 3 * 2 + 2);
  // Written back in today's form: list structure kept, the DTypePolicy object for dtype.
  const md::json config = model.get_config();
  CHECK(config["input_layers"] == md::json::parse(R"([["input_layer", 0, 0]])"));
  CHECK(config["output_layers"] == md::json::parse(R"([["dense_1", 0, 0]])"));
  CHECK(config["layers"][1]["config"]["dtype"] == md::json::parse(kDtypePolicy));
  CHECK(config["layers"][0]["config"]["batch_shape"] == md::json::parse("[null, 4]"));

  // It computes dense_1(relu(dense(x))) (dropout is the identity at inference).
  const std::vector<md::Tensor> w = model.get_weights();
  const md::Tensor x = md::random::normal({2, 4}, 0.0f, 1.0f, 9);
  const md::Tensor expected =
      md::ops::add(md::ops::matmul(md::ops::relu(md::ops::add(md::ops::matmul(x, w[0]), w[1])), w[2]), w[3]);
  CHECK(mt::same_bits(model(x), expected));
  // The recorded kwargs come back as they were written, as Keras 3.16's deserialize_node passes
  // them on: the dropout node keeps its explicit training=false, so it stays off even in a
  // training call (the 3.3 quirk that 3.10+ fixed by recording only user kwargs).
  CHECK(config["layers"][2]["inbound_nodes"][0]["kwargs"] == md::json::parse(R"({"training": false, "mask": null})"));
  CHECK(mt::same_bits(model(x, {.training = true}), expected));
  // A second load of the same file gives the same config.
  CHECK(load_text(dir, "keras33b.json", keras33).get_config().dump() == config.dump());
}

TEST_CASE("config format: a Keras 2 (tf.keras) config with list inbound_nodes loads", "[models][config][compat]") {
  md::clear_session();
  // tf.keras 2.x model.to_json(): no module/registered_name, batch_input_shape, and inbound nodes
  // as [[[layer, node, tensor, kwargs], ...]].
  const std::string keras2 = R"({
    "class_name": "Functional",
    "config": {
      "name": "model",
      "layers": [
        {"class_name": "InputLayer",
         "config": {"batch_input_shape": [null, 4], "dtype": "float32", "sparse": false, "ragged": false,
                    "name": "input_1"},
         "name": "input_1", "inbound_nodes": []},
        {"class_name": "InputLayer",
         "config": {"batch_input_shape": [null, 2], "dtype": "float32", "sparse": false, "ragged": false,
                    "name": "input_2"},
         "name": "input_2", "inbound_nodes": []},
        {"class_name": "Dense",
         "config": {"name": "dense", "trainable": true, "dtype": "float32", "units": 2, "activation": "tanh",
                    "use_bias": true,
                    "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}},
                    "bias_initializer": {"class_name": "Zeros", "config": {}},
                    "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null,
                    "kernel_constraint": null, "bias_constraint": null},
         "name": "dense", "inbound_nodes": [[["input_1", 0, 0, {}]]]},
        {"class_name": "Concatenate",
         "config": {"name": "concatenate", "trainable": true, "dtype": "float32", "axis": -1},
         "name": "concatenate", "inbound_nodes": [[["dense", 0, 0, {}], ["input_2", 0, 0, {}]]]}
      ],
      "input_layers": [["input_1", 0, 0], ["input_2", 0, 0]],
      "output_layers": [["concatenate", 0, 0]]
    },
    "keras_version": "2.15.0",
    "backend": "tensorflow"
  })";
  mt::TempDir dir;
  md::Model model = load_text(dir, "keras2.json", keras2);
  CHECK(model.name() == "model");
  // Keras's depth order: input_2 feeds the output layer directly, so it sits at dense's depth
  // (1), after dense in traversal order; input_1 is the only operation at depth 2.
  CHECK(mt::names_of(model.operations()) == std::vector<std::string>{"input_1", "dense", "input_2", "concatenate"});
  CHECK(model.get_layer("concatenate")->inbound_nodes().size() == 1);
  CHECK(model.get_layer("concatenate")->inbound_nodes()[0]->input_tensors().size() == 2);
  CHECK(model.graph_outputs()[0].shape() == md::Shape{md::None, 4});

  const std::vector<md::Tensor> w = model.get_weights();
  REQUIRE(w.size() == 2);
  const md::Tensor x1 = md::random::normal({3, 4}, 0.0f, 1.0f, 3);
  const md::Tensor x2 = md::random::normal({3, 2}, 0.0f, 1.0f, 4);
  const md::Tensor expected =
      md::ops::concatenate({md::ops::tanh(md::ops::add(md::ops::matmul(x1, w[0]), w[1])), x2}, -1);
  CHECK(mt::same_bits(model({x1, x2}), expected));

  // Saved again it is written in Keras 3's form and reloads to the same model.
  md::save_config(model, dir.file("keras3.json"));
  const md::json rewritten = md::read_json_file(dir.file("keras3.json"));
  CHECK(rewritten["module"] == "keras.src.models.functional");
  CHECK(rewritten["config"]["layers"][3]["inbound_nodes"][0]["args"][0].size() == 2);
  CHECK(rewritten["config"]["layers"][3]["inbound_nodes"][0]["args"][0][1]["config"]["keras_history"] ==
        md::json::parse(R"(["input_2", 0, 0])"));
  md::Model again = md::load_config(dir.file("keras3.json"));
  again.set_weights(w);
  CHECK(mt::same_bits(again({x1, x2}), expected));
}

// ---- load_config errors ---------------------------------------------------------------------

namespace {

// A valid one-Dense config to break in different ways.
md::json valid_config() {
  return md::json::parse(R"({
    "module": "keras.src.models.functional", "class_name": "Functional",
    "config": {
      "name": "probe", "trainable": true,
      "layers": [
        {"module": "keras.layers", "class_name": "InputLayer",
         "config": {"batch_shape": [null, 2], "dtype": "float32", "sparse": false, "name": "in"},
         "registered_name": null, "name": "in", "inbound_nodes": []},
        {"module": "keras.layers", "class_name": "Dense",
         "config": {"name": "out", "trainable": true, "dtype": "float32", "units": 1},
         "registered_name": null, "name": "out",
         "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__",
                                      "config": {"shape": [null, 2], "dtype": "float32",
                                                 "keras_history": ["in", 0, 0]}}],
                            "kwargs": {}}]}
      ],
      "input_layers": ["in", 0, 0],
      "output_layers": ["out", 0, 0]
    },
    "registered_name": "Functional"
  })");
}

}  // namespace

TEST_CASE("load_config: malformed files and broken configs give clear errors", "[models][config][errors]") {
  md::clear_session();
  mt::TempDir dir;

  SECTION("malformed JSON names the file, line and column") {
    const std::string path = dir.file("broken.json");
    mt::write_text(path, "{\n  \"module\": \"keras\",\n  \"config\": ]\n}\n");
    const std::string message = mt::error_message([&] { md::load_config(path); });
    CHECK_THAT(message, Catch::Matchers::StartsWith("Malformed JSON in '" + path + "' at line 3, column 13:"));
    CHECK_THAT(message, Catch::Matchers::Contains("syntax error"));
    CHECK_THROWS_AS(md::load_config(path), md::ValueError);
    // A truncated file, and an empty one.
    mt::write_text(path, "{\"class_name\": \"Functional\",");
    CHECK_THAT(mt::error_message([&] { md::load_config(path); }),
               Catch::Matchers::StartsWith("Malformed JSON in '" + path + "' at line 1, column 29:"));
    mt::write_text(path, "");
    CHECK_THAT(mt::error_message([&] { md::load_config(path); }),
               Catch::Matchers::StartsWith("Malformed JSON in '" + path + "' at line 1, column 1:"));
    // A number beyond double's range is nlohmann's out_of_range, not a parse_error (found by the
    // keras2_config fuzzer in CI, 2026-12-08: "11e3002" escaped as a foreign exception).
    mt::write_text(path, "{\"class_name\": \"Sequential\", \"config\": {\"layers\": [], \"seed\": 11e3002}}");
    CHECK_THROWS_AS(md::load_config(path), md::ValueError);
    CHECK_THAT(mt::error_message([&] { md::load_config(path); }),
               Catch::Matchers::StartsWith("Malformed JSON in '" + path + "': number overflow parsing '11e3002'"));
  }

  SECTION("a saved model or weights file where a config was expected points to the right loader") {
    const md::Tensor in = md::Input({3});
    md::Model model(in, md::layers::Dense({.units = 2})(in));
    const std::string archive = dir.file("m.keras"), weights = dir.file("m.weights.h5");
    model.save(archive);
    md::save_weights(model, weights);
    CHECK_THROWS_WITH(md::load_config(archive), "'" + archive + "' is a zip archive (a `.keras` model file), not a "
                                                "JSON config: load it with md::load_model(\"" + archive + "\").");
    CHECK_THROWS_WITH(md::load_config(weights), "'" + weights + "' is an HDF5 file (saved weights), not a JSON config: "
                                                "load weights into a model with md::load_weights(model, \"" + weights +
                                                "\").");
  }

  SECTION("a missing file") {
    const std::string path = dir.file("missing.json");
    CHECK_THAT(mt::error_message([&] { md::load_config(path); }),
               Catch::Matchers::StartsWith("Cannot open '" + path + "'"));
    CHECK_THROWS_AS(md::load_config(path), md::IOError);
  }

  SECTION("an unknown class") {
    md::json config = valid_config();
    config["config"]["layers"][1]["class_name"] = "Nope";
    const std::string message = mt::error_message([&] { load_text(dir, "nope.json", config.dump()); });
    CHECK_THAT(message, Catch::Matchers::Contains("Could not locate class 'Nope'"));
    CHECK_THAT(message, Catch::Matchers::Contains(dir.file("nope.json")));
  }

  SECTION("a missing 'layers' key") {
    md::json config = valid_config();
    config["config"].erase("layers");
    const std::string message = mt::error_message([&] { load_text(dir, "no_layers.json", config.dump()); });
    CHECK_THAT(message, Catch::Matchers::Contains("Functional config is missing the required key 'layers' (a list)."));
  }

  SECTION("a layer without 'config'") {
    md::json config = valid_config();
    config["config"]["layers"][1].erase("config");
    const std::string message = mt::error_message([&] { load_text(dir, "no_config.json", config.dump()); });
    CHECK_THAT(message, Catch::Matchers::Contains("'config'"));
    CHECK_THAT(message, Catch::Matchers::Contains("'Dense'"));
    CHECK_THAT(message, Catch::Matchers::Contains("must be an object"));
  }

  SECTION("a layer without 'class_name'") {
    md::json config = valid_config();
    config["config"]["layers"][1].erase("class_name");
    const std::string message = mt::error_message([&] { load_text(dir, "no_class.json", config.dump()); });
    CHECK_THAT(message, Catch::Matchers::Contains("missing key 'class_name' (a string)"));
  }

  SECTION("a value of the wrong type names the key, the expected type and the class") {
    md::json config = valid_config();
    config["config"]["layers"][1]["config"]["units"] = "three";
    const std::string message = mt::error_message([&] { load_text(dir, "units.json", config.dump()); });
    CHECK_THAT(message, Catch::Matchers::Contains("'units'"));
    CHECK_THAT(message, Catch::Matchers::Contains("Dense"));
    CHECK_THAT(message, Catch::Matchers::Contains("integer"));
    // A wrong type for the model's own keys.
    md::json layers_not_list = valid_config();
    layers_not_list["config"]["layers"] = "many";
    const std::string message2 = mt::error_message([&] { load_text(dir, "layers.json", layers_not_list.dump()); });
    CHECK_THAT(message2, Catch::Matchers::Contains("Functional config key 'layers' must be a list"));
  }

  SECTION("an inbound node that refers to an unknown layer") {
    md::json config = valid_config();
    config["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "ghost";
    const std::string message = mt::error_message([&] { load_text(dir, "ghost.json", config.dump()); });
    CHECK_THAT(message, Catch::Matchers::Contains("Unknown layer: ghost"));
    // The same in Keras 2's list form (models/keras2_config.cpp names the model, layer and key).
    md::json legacy = valid_config();
    legacy["config"]["layers"][1]["inbound_nodes"] = md::json::parse(R"([[["ghost", 0, 0, {}]]])");
    CHECK_THAT(mt::error_message([&] { load_text(dir, "ghost2.json", legacy.dump()); }),
               Catch::Matchers::Contains("key 'inbound_nodes' refers to layer 'ghost', which the model's 'layers' list "
                                         "does not have"));
    // An output triple naming an unknown layer.
    md::json bad_output = valid_config();
    bad_output["config"]["output_layers"] = md::json::parse(R"(["ghost", 0, 0])");
    CHECK_THAT(mt::error_message([&] { load_text(dir, "ghost3.json", bad_output.dump()); }),
               Catch::Matchers::Contains("Unknown layer: ghost"));
  }

  SECTION("malformed tensor references are md::Errors, not JSON library exceptions") {
    md::json no_history = valid_config();
    no_history["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"].erase("keras_history");
    CHECK_THAT(mt::error_message([&] { load_text(dir, "history.json", no_history.dump()); }),
               Catch::Matchers::Contains("a __keras_tensor__ needs a 'keras_history' [layer_name, node_index, "
                                         "tensor_index]"));
    md::json legacy = valid_config();
    legacy["config"]["layers"][1]["inbound_nodes"] = md::json::parse(R"([[["in", "zero", 0, {}]]])");
    CHECK_THAT(mt::error_message([&] { load_text(dir, "legacy.json", legacy.dump()); }),
               Catch::Matchers::Contains("key 'inbound_nodes' holds the malformed reference [\"in\",\"zero\",0,{}]"));
    legacy["config"]["layers"][1]["inbound_nodes"] = md::json::parse(R"([[[7, 0, 0]]])");
    CHECK_THROWS_AS(load_text(dir, "legacy.json", legacy.dump()), md::ValueError);
    md::json bad_input = valid_config();
    bad_input["config"]["layers"][0]["config"]["batch_shape"] = "wide";
    CHECK_THAT(mt::error_message([&] { load_text(dir, "shape.json", bad_input.dump()); }),
               Catch::Matchers::Contains("InputLayer"));
    md::json no_list = valid_config();
    no_list["config"]["input_layers"] = 7;
    CHECK_THAT(mt::error_message([&] { load_text(dir, "inputs.json", no_list.dump()); }),
               Catch::Matchers::Contains("input_layers/output_layers must be lists; received 7"));
  }

  SECTION("a node index that does not exist") {
    md::json config = valid_config();
    config["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"]["keras_history"][1] = 3;
    CHECK_THAT(mt::error_message([&] { load_text(dir, "node.json", config.dump()); }),
               Catch::Matchers::Contains("The following nodes failed to be resolved: out"));
  }
}

TEST_CASE("load_config: a failed load leaves no trace and a valid load still works", "[models][config][errors]") {
  md::clear_session();
  mt::TempDir dir;
  // Several failures that stop at different stages of the load ...
  md::json unknown_class = valid_config();
  unknown_class["config"]["layers"][1]["class_name"] = "Nope";
  md::json ghost = valid_config();
  ghost["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "ghost";
  md::json bad_output = valid_config();
  bad_output["config"]["output_layers"] = md::json::parse(R"(["out", 5, 0])");
  for (const md::json& config : {unknown_class, ghost, bad_output}) {
    CHECK_THROWS_AS(load_text(dir, "bad.json", config.dump()), md::Error);
  }
  mt::write_text(dir.file("garbage.json"), "[1, 2,");
  CHECK_THROWS_AS(md::load_config(dir.file("garbage.json")), md::ValueError);

  // ... then a valid load creates exactly the layers of its config.
  md::Model model = load_text(dir, "good.json", valid_config().dump());
  CHECK(mt::names_of(model.operations()) == std::vector<std::string>{"in", "out"});
  CHECK(model.get_config()["layers"].size() == 2);
  CHECK(model(md::Tensor::ones({3, 2})).shape() == md::Shape{3, 1});
  // The failed loads took no automatic names: fresh objects get the first names.
  const md::Tensor x = md::Input({2});
  CHECK(x.impl()->history->operation->name() == "input_layer");
  CHECK(md::layers::Dense({.units = 1}).name() == "dense");
  CHECK(md::Model(x, md::layers::Dense({.units = 1})(x)).name() == "functional");
}

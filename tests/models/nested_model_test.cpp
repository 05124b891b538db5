// Models inside models: a functional Model called symbolically as a layer of another Model (and a
// Sequential one), run on data, and round-tripped through configs with Keras's node numbering
// (a nested Functional's nodes count from 1 in input_layers/output_layers).
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "model_test_helpers.h"

namespace md = minidl;

namespace {

md::Model make_encoder() {
  const md::Tensor x = md::Input({4}, "encoder_in");
  const md::Tensor h = md::layers::Dense({.units = 3, .activation = "tanh", .name = "encoder_dense"})(x);
  return md::Model(x, h, "encoder");
}

}  // namespace

TEST_CASE("nested model: a Model called on symbolic tensors is one layer of the outer graph", "[models][nested]") {
  md::clear_session();
  md::Model encoder = make_encoder();
  const md::Tensor a = md::Input({4}, "outer_in");
  const md::Tensor encoded = encoder(a);
  CHECK(encoded.is_symbolic());
  CHECK(encoded.shape() == md::Shape{md::None, 3});
  const md::Tensor y = md::layers::Dense({.units = 2, .name = "head"})(encoded);
  md::Model outer(a, y, "classifier");

  CHECK(mt::names_of(outer.operations()) == std::vector<std::string>{"outer_in", "encoder", "head"});
  CHECK(mt::names_of(outer.layers()) == std::vector<std::string>{"outer_in", "encoder", "head"});
  CHECK(outer.get_layer("encoder")->class_name() == "Functional");
  // The encoder's weights come first, through the nested model.
  CHECK(outer.weights().size() == 4);
  CHECK(outer.count_params() == (4 * 3 + 3) + (3 * 2 + 2));
  CHECK(outer.weights()[0].path() == "encoder_dense/kernel");
  CHECK(outer.weights()[2].path() == "head/kernel");
  // The encoder got one node from the outer call; its own graph is unchanged.
  CHECK(encoder.inbound_nodes().size() == 1);
  CHECK(mt::names_of(encoder.operations()) == std::vector<std::string>{"encoder_in", "encoder_dense"});

  // On data the outer model is head(encoder(x)).
  const md::Tensor x = md::random::normal({5, 4}, 0.0f, 1.0f, 7);
  const md::Tensor expected = (*outer.get_layer("head"))(encoder(x));
  CHECK(mt::same_bits(outer(x), expected));
  // Training reaches the nested model's layers: gradients for all four weights.
  md::GradientTape tape;
  const md::Tensor loss = md::ops::sum(md::ops::square(outer(x)));
  const auto grads = tape.gradient(loss, outer.trainable_weights());
  REQUIRE(grads.size() == 4);
  for (const md::Tensor& g : grads) CHECK(g.defined());
}

TEST_CASE("nested model: config round trip with Keras's node numbering", "[models][nested][config]") {
  md::clear_session();
  md::Model encoder = make_encoder();
  const md::Tensor a = md::Input({4}, "left");
  const md::Tensor b = md::Input({4}, "right");
  // The encoder is shared: two nodes, then both encodings are also model outputs.
  const md::Tensor ea = encoder(a);
  const md::Tensor eb = encoder(b);
  const md::Tensor y = md::layers::Dense({.units = 1, .name = "score"})(md::layers::Add({.name = "sum"})({ea, eb}));
  md::Model outer({a, b}, {y, ea, eb}, "siamese");

  const md::json config = outer.get_config();
  // functional.py get_config: a nested Functional's kept nodes start at 1 ("Functional models
  // start with a pre-existing node") in input_layers/output_layers ...
  CHECK(config["output_layers"] == md::json::parse(R"([["score", 0, 0], ["encoder", 1, 0], ["encoder", 2, 0]])"));
  CHECK(config["input_layers"] == md::json::parse(R"([["left", 0, 0], ["right", 0, 0]])"));
  // ... while serialize_node's keras_history inside inbound_nodes only drops foreign nodes.
  const md::json& layers = config["layers"];
  REQUIRE(layers.size() == 5);
  CHECK(layers[2]["name"] == "encoder");
  CHECK(layers[2]["module"] == "keras.src.models.functional");
  CHECK(layers[2]["class_name"] == "Functional");
  CHECK(layers[2]["registered_name"] == "Functional");
  CHECK(layers[2]["build_config"] == md::json{{"input_shape", nullptr}});
  CHECK(layers[2]["config"] == encoder.get_config());
  REQUIRE(layers[2]["inbound_nodes"].size() == 2);
  CHECK(layers[2]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] == md::json::parse(R"(["left", 0, 0])"));
  CHECK(layers[2]["inbound_nodes"][1]["args"][0]["config"]["keras_history"] == md::json::parse(R"(["right", 0, 0])"));
  CHECK(layers[3]["name"] == "sum");
  CHECK(layers[3]["inbound_nodes"][0]["args"][0][0]["config"]["keras_history"] ==
        md::json::parse(R"(["encoder", 0, 0])"));
  CHECK(layers[3]["inbound_nodes"][0]["args"][0][1]["config"]["keras_history"] ==
        md::json::parse(R"(["encoder", 1, 0])"));

  // Reload: the same config (shift undone on load), shared weights stay shared, same outputs.
  mt::TempDir dir;
  md::save_config(outer, dir.file("siamese.json"));
  md::Model again = md::load_config(dir.file("siamese.json"));
  CHECK(again.get_config().dump() == config.dump());
  CHECK(again.get_layer("encoder")->inbound_nodes().size() == 2);
  CHECK(again.weights().size() == outer.weights().size());
  again.set_weights(outer.get_weights());
  const md::Tensor xa = md::random::normal({3, 4}, 0.0f, 1.0f, 1);
  const md::Tensor xb = md::random::normal({3, 4}, 0.0f, 1.0f, 2);
  const auto expected = outer.call_all({xa, xb});
  const auto actual = again.call_all({xa, xb});
  REQUIRE(actual.size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(mt::same_bits(actual[i], expected[i]));
  CHECK(mt::same_bits(expected[1], encoder(xa)));

  // The outer model nests again (two levels) and still round-trips.
  const md::Tensor top_in = md::Input({4}, "top_left");
  const md::Tensor top_in2 = md::Input({4}, "top_right");
  const auto inner_outs = outer.call_all({top_in, top_in2});
  REQUIRE(inner_outs.size() == 3);
  md::Model top({top_in, top_in2}, {inner_outs[0]}, "top");
  CHECK(top.get_config()["output_layers"] == md::json::parse(R"([["siamese", 1, 0]])"));
  md::Model top_again = md::Model::from_config(md::json::parse(top.get_config().dump()));
  CHECK(top_again.get_config().dump() == top.get_config().dump());
  top_again.set_weights(top.get_weights());
  CHECK(mt::same_bits(top_again({xa, xb}), top({xa, xb})));
}

TEST_CASE("nested model: a Sequential inside a functional model", "[models][nested][sequential]") {
  md::clear_session();
  md::Sequential stack({md::Input({4}, "stack_in"), md::layers::Dense({.units = 5, .activation = "relu"}),
                        md::layers::Dense({.units = 2})},
                       "stack");
  const md::Tensor x = md::Input({4}, "x");
  const md::Tensor y = md::layers::Activation({.activation = "sigmoid"})(stack(x));
  md::Model model(x, y, "wrapped");
  CHECK(mt::names_of(model.operations()) == std::vector<std::string>{"x", "stack", "activation"});

  const md::json config = model.get_config();
  CHECK(config["layers"][1]["module"] == "keras");
  CHECK(config["layers"][1]["class_name"] == "Sequential");
  CHECK(config["layers"][1]["registered_name"].is_null());
  // A Sequential is not a Functional in Keras 3: no node shift.
  CHECK(config["layers"][2]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] ==
        md::json::parse(R"(["stack", 0, 0])"));

  md::Model again = md::Model::from_config(md::json::parse(config.dump()));
  CHECK(again.get_config().dump() == config.dump());
  again.set_weights(model.get_weights());
  const md::Tensor data = md::random::normal({2, 4}, 0.0f, 1.0f, 3);
  CHECK(mt::same_bits(again(data), model(data)));
  CHECK(mt::same_bits(model(data), md::ops::sigmoid(stack(data))));
}

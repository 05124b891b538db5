// Sequential: building on the first call or from a leading md::Input, add/pop, Keras's config
// (keras/src/models/sequential.py get_config/from_config) and its error texts.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "model_test_helpers.h"

namespace md = minidl;

namespace {

// relu(x W1 + b1) W2 + b2 with the ops, from a model's weights.
md::Tensor two_dense(const std::vector<md::Tensor>& w, const md::Tensor& x) {
  return md::ops::add(md::ops::matmul(md::ops::relu(md::ops::add(md::ops::matmul(x, w[0]), w[1])), w[2]), w[3]);
}

}  // namespace

TEST_CASE("sequential: built by the first call", "[models][sequential]") {
  md::clear_session();
  md::Sequential model({md::layers::Dense({.units = 4, .activation = "relu"}), md::layers::Dense({.units = 2})});
  CHECK(model.name() == "sequential");
  CHECK(model.class_name() == "Sequential");
  CHECK_FALSE(model.built());
  CHECK(mt::names_of(model.layers()) == std::vector<std::string>{"dense", "dense_1"});
  CHECK(model.weights().empty());  // nothing to build the layers from yet

  const md::Tensor x = md::random::normal({5, 3}, 0.0f, 1.0f, 1);
  const md::Tensor y = model(x);
  CHECK(model.built());
  CHECK(y.shape() == md::Shape{5, 2});
  CHECK(model.weights().size() == 4);
  CHECK(model.count_params() == (3 * 4 + 4) + (4 * 2 + 2));
  CHECK(mt::same_bits(y, two_dense(model.get_weights(), x)));
  // The graph starts at an InputLayer with an open batch axis: other batch sizes work.
  REQUIRE(model.graph_inputs().size() == 1);
  CHECK(model.graph_inputs()[0].shape() == md::Shape{md::None, 3});
  CHECK(mt::names_of(model.operations()) == std::vector<std::string>{"input_layer", "dense", "dense_1"});
  CHECK(mt::names_of(model.layers()) == std::vector<std::string>{"dense", "dense_1"});
  CHECK(model(md::Tensor::ones({1, 3})).shape() == md::Shape{1, 2});
  // Explicit build() of an unbuilt model.
  md::Sequential explicit_build({md::layers::Dense({.units = 2})});
  explicit_build.build(md::ShapeSpec(md::Shape{md::None, 6}));
  CHECK(explicit_build.built());
  CHECK(explicit_build.count_params() == 6 * 2 + 2);
}

TEST_CASE("sequential: a leading md::Input builds at once", "[models][sequential]") {
  md::clear_session();
  md::Sequential model({md::Input({3}, "features"), md::layers::Dense({.units = 4, .activation = "relu"}),
                        md::layers::Dense({.units = 2})},
                       "classifier");
  CHECK(model.built());
  CHECK(model.name() == "classifier");
  CHECK(model.count_params() == 26);
  CHECK(mt::names_of(model.layers()) == std::vector<std::string>{"dense", "dense_1"});
  CHECK(mt::names_of(model.operations()) == std::vector<std::string>{"features", "dense", "dense_1"});
  CHECK(model.graph_outputs()[0].shape() == md::Shape{md::None, 2});
  const md::Tensor x = md::random::normal({2, 3}, 0.0f, 1.0f, 2);
  CHECK(mt::same_bits(model(x), two_dense(model.get_weights(), x)));
  // Symbolic use: the model is one layer of a functional graph.
  const md::Tensor in = md::Input({3}, "outer");
  const md::Tensor out = model(in);
  CHECK(out.is_symbolic());
  CHECK(out.shape() == md::Shape{md::None, 2});
}

TEST_CASE("sequential: add and pop rebuild the stack", "[models][sequential]") {
  md::clear_session();
  md::Sequential model({md::Input({3}, "in")}, "growing");
  CHECK_FALSE(model.built());  // an Input alone is not a model yet (Keras's _maybe_rebuild)
  model.add(md::layers::Dense({.units = 4, .name = "first"}));
  CHECK(model.built());
  CHECK(model.graph_outputs()[0].shape() == md::Shape{md::None, 4});
  model.add(md::layers::Dense({.units = 2, .name = "second"}));
  CHECK(mt::names_of(model.layers()) == std::vector<std::string>{"first", "second"});
  CHECK(model.graph_outputs()[0].shape() == md::Shape{md::None, 2});
  const md::Tensor x = md::Tensor::ones({2, 3});
  CHECK(model(x).shape() == md::Shape{2, 2});

  model.pop();
  CHECK(mt::names_of(model.layers()) == std::vector<std::string>{"first"});
  CHECK(model(x).shape() == md::Shape{2, 4});
  CHECK(model.count_params() == 3 * 4 + 4);
  // The popped layer keeps its weights; adding a different layer works.
  model.add(md::layers::Dense({.units = 7, .name = "third"}));
  CHECK(model(x).shape() == md::Shape{2, 7});
  CHECK(mt::names_of(model.operations()) == std::vector<std::string>{"in", "first", "third"});

  // Without an Input, add/pop leave the model unbuilt until the next call.
  md::Sequential lazy({md::layers::Dense({.units = 3, .name = "a"})}, "lazy");
  lazy.add(md::layers::Dense({.units = 1, .name = "b"}));
  CHECK_FALSE(lazy.built());
  CHECK(lazy(md::Tensor::ones({4, 5})).shape() == md::Shape{4, 1});
  lazy.pop();
  CHECK_FALSE(lazy.built());
  CHECK(lazy(md::Tensor::ones({4, 5})).shape() == md::Shape{4, 3});
}

TEST_CASE("sequential: Keras's error texts", "[models][sequential][errors]") {
  md::clear_session();
  md::Sequential model({md::layers::Dense({.units = 2, .name = "same"})}, "seq");
  // keras/src/models/sequential.py add().
  CHECK(mt::error_message([&] { model.add(md::layers::Dense({.units = 3, .name = "same"})); }) ==
        "All layers added to a Sequential model should have unique names. Name 'same' is already the name of a layer "
        "in this model. Update the `name` argument to pass a unique name.");
  CHECK_THROWS_AS(model.add(md::layers::Dense({.units = 3, .name = "same"})), md::ValueError);
  CHECK(model.layers().size() == 1);  // the failed add changed nothing

  md::Sequential with_input({md::Input({3}, "in"), md::layers::Dense({.units = 2})}, "fixed");
  CHECK(mt::error_message([&] { with_input.add(md::Input({5}, "other")); }) ==
        "Sequential model 'fixed' has already been configured to use input shape (None, 3). You cannot add a "
        "different Input layer to it.");

  // sequential.py build(): no layers.
  md::Sequential empty({}, "empty");
  CHECK(mt::error_message([&] {
          empty(md::Tensor::ones({2, 3}));
        }) == "Sequential model empty cannot be built because it has no layers. Call `model.add(layer)`.");
  CHECK(mt::error_message([&] {
          empty.build(md::ShapeSpec(md::Shape{md::None, 3}));
        }) == "Sequential model empty cannot be built because it has no layers. Call `model.add(layer)`.");
  CHECK_THROWS_AS(empty.pop(), md::ValueError);
  // Only md::Input tensors can stand for a layer.
  CHECK_THROWS_AS(md::Sequential({md::LayerRef(md::Tensor::ones({2, 2}))}), md::ValueError);
  // The empty model still works once it has a layer.
  empty.add(md::layers::Dense({.units = 1, .name = "only"}));
  CHECK(empty(md::Tensor::ones({2, 3})).shape() == md::Shape{2, 1});
}

TEST_CASE("sequential: config round trip through md::serialize / md::deserialize", "[models][sequential][config]") {
  md::clear_session();
  md::Sequential model({md::Input({3}, "in"), md::layers::Dense({.units = 2, .name = "out"})}, "seq");
  const md::json object = md::serialize(model);
  // sequential.py get_config: Layer's base keys, "layers" (with the InputLayer) and the
  // build_input_shape; the envelope of an exported class (module "keras", registered_name null),
  // with the compile_config of a model ({} until compiled).
  const std::string expected = R"({
    "module": "keras", "class_name": "Sequential",
    "config": {
      "name": "seq", "trainable": true,
      "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
      "layers": [
        {"module": "keras.layers", "class_name": "InputLayer",
         "config": {"batch_shape": [null, 3], "dtype": "float32", "sparse": false, "ragged": false, "name": "in",
                    "optional": false},
         "registered_name": null},
        {"module": "keras.layers", "class_name": "Dense",
         "config": {"name": "out", "trainable": true,
                    "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
                              "registered_name": null},
                    "units": 2, "activation": "linear", "use_bias": true,
                    "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                           "config": {"seed": null, "input_axes": null, "output_axes": null},
                                           "registered_name": null},
                    "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                                         "registered_name": null},
                    "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null,
                    "bias_constraint": null, "quantization_config": null},
         "registered_name": null, "build_config": {"input_shape": [null, 3]}}
      ],
      "build_input_shape": [null, 3]
    },
    "registered_name": null,
    "build_config": {"input_shape": [null, 3]},
    "compile_config": {}
  })";
  CHECK(object.dump(2) == md::json::parse(expected).dump(2));

  const std::shared_ptr<md::Layer> layer = md::deserialize(md::json::parse(object.dump()));
  auto again = std::dynamic_pointer_cast<md::Sequential>(layer);
  REQUIRE(again);
  CHECK(again->built());
  CHECK(md::serialize(*again).dump() == object.dump());
  again->set_weights(model.get_weights());
  const md::Tensor x = md::random::normal({4, 3}, 0.0f, 1.0f, 8);
  CHECK(mt::same_bits((*again)(x), model(x)));

  // A model built by its first call (no Input layer) reloads built, from build_input_shape.
  md::clear_session();
  md::Sequential lazy({md::layers::Dense({.units = 5, .activation = "relu"}), md::layers::Dense({.units = 1})});
  (void)lazy(md::Tensor::ones({2, 4}));
  const md::json lazy_object = md::serialize(lazy);
  CHECK(lazy_object["config"]["build_input_shape"] == md::json::parse("[null, 4]"));
  CHECK(lazy_object["config"]["layers"].size() == 2);
  auto lazy_again = std::dynamic_pointer_cast<md::Sequential>(md::deserialize(lazy_object));
  REQUIRE(lazy_again);
  CHECK(lazy_again->built());
  CHECK(md::serialize(*lazy_again).dump() == lazy_object.dump());
  lazy_again->set_weights(lazy.get_weights());
  const md::Tensor z = md::random::normal({3, 4}, 0.0f, 1.0f, 9);
  CHECK(mt::same_bits((*lazy_again)(z), lazy(z)));

  // An unbuilt model has no build_input_shape and reloads unbuilt.
  md::Sequential unbuilt({md::layers::Dense({.units = 3})}, "unbuilt");
  const md::json unbuilt_object = md::serialize(unbuilt);
  CHECK_FALSE(unbuilt_object["config"].contains("build_input_shape"));
  CHECK_FALSE(unbuilt_object.contains("build_config"));
  auto unbuilt_again = std::dynamic_pointer_cast<md::Sequential>(md::deserialize(unbuilt_object));
  REQUIRE(unbuilt_again);
  CHECK_FALSE(unbuilt_again->built());

  // from_config without the required keys (sequential.py's message).
  CHECK_THAT(mt::error_message([&] {
               md::Sequential::from_config(md::json{{"layers", md::json::array()}});
             }),
             Catch::Matchers::StartsWith("A Sequential model configuration must be a dictionary containing the 'name' "
                                         "and 'layers' keys. Received: config="));
}

TEST_CASE("sequential: load_config of a Sequential file gives the functional model over its graph",
          "[models][sequential][config]") {
  md::clear_session();
  md::Sequential model({md::Input({3}, "in"), md::layers::Dense({.units = 4, .activation = "relu", .name = "hidden"}),
                        md::layers::Dense({.units = 2, .name = "out"})},
                       "seq");
  mt::TempDir dir;
  md::save_config(model, dir.file("seq.json"));
  CHECK(md::read_json_file(dir.file("seq.json"))["class_name"] == "Sequential");
  md::Model loaded = md::load_config(dir.file("seq.json"));
  CHECK(loaded.class_name() == "Functional");
  CHECK(loaded.name() == "seq");
  CHECK(mt::names_of(loaded.operations()) == std::vector<std::string>{"in", "hidden", "out"});
  // Its config is a consistent Functional config (single tensors as bare triples).
  const md::json object = md::serialize(loaded);
  CHECK(object["module"] == "keras.src.models.functional");
  CHECK(object["config"]["input_layers"] == md::json::parse(R"(["in", 0, 0])"));
  CHECK(object["config"]["output_layers"] == md::json::parse(R"(["out", 0, 0])"));
  loaded.set_weights(model.get_weights());
  const md::Tensor x = md::random::normal({3, 3}, 0.0f, 1.0f, 4);
  CHECK(mt::same_bits(loaded(x), model(x)));
  // A Sequential saved before it was built has no graph to load this way.
  md::Sequential unbuilt({md::layers::Dense({.units = 1})}, "later");
  md::save_config(unbuilt, dir.file("later.json"));
  CHECK_THAT(mt::error_message([&] { md::load_config(dir.file("later.json")); }),
             Catch::Matchers::Contains("Sequential model 'later' that was never built"));
}

TEST_CASE("sequential: an InputLayer made with its constructor starts the stack, as in keras.Sequential",
          "[models][sequential]") {
  md::Sequential seq({md::layers::InputLayer({.shape = {4}, .name = "features"}),
                      md::layers::Dense({.units = 3, .name = "d"})});
  REQUIRE(seq.built());
  CHECK(seq.graph_inputs().at(0).shape() == md::Shape{md::None, 4});
  CHECK(seq(md::Tensor::ones({2, 4})).shape() == md::Shape{2, 3});
}

TEST_CASE("sequential: weight paths follow Keras's name scopes", "[models][sequential][paths]") {
  // Keras 3.15 opens a layer's name scope around its build and its call, and a variable's path
  // is the scope path at its creation: a Sequential builds its layers inside its own scope, so
  // keras.Sequential([Input((6,)), Dense(3), Dense(2)], name="seq") has the paths
  // seq/dense/kernel, seq/dense/bias, seq/dense_1/kernel, seq/dense_1/bias, built by build() or
  // by the first call too. The optimizer's slots follow ("sgd/seq_dense_kernel_momentum"), as
  // tests/data/keras/training.h5 shows for a trained Sequential.
  md::clear_session();
  md::Sequential with_input({md::Input({6}), md::layers::Dense({.units = 3}), md::layers::Dense({.units = 2})}, "seq");
  CHECK(mt::paths_of(with_input.weights()) ==
        std::vector<std::string>{"seq/dense/kernel", "seq/dense/bias", "seq/dense_1/kernel", "seq/dense_1/bias"});
  md::Sequential by_call({md::layers::Dense({.units = 3, .name = "first"})}, "seq_call");
  by_call(md::Tensor::ones({2, 6}));
  CHECK(mt::paths_of(by_call.weights()) == std::vector<std::string>{"seq_call/first/kernel", "seq_call/first/bias"});
  md::optim::SGD sgd({.momentum = 0.9});
  sgd.build(with_input.trainable_variables());
  CHECK(sgd.variables().at(2).path() == "sgd/seq_dense_kernel_momentum");

  // A layer built before it joins the Sequential keeps its path, as does a Sequential rebuilt
  // after add(): the path is fixed when the layer is first built.
  md::layers::Dense built_alone({.units = 2, .name = "alone"});
  built_alone.build(md::ShapeSpec(md::Shape{md::None, 2}));
  md::Sequential holder({md::Input({3}), md::layers::Dense({.units = 2, .name = "inner"})}, "holder");
  holder.add(built_alone);
  CHECK(mt::paths_of(holder.weights()) ==
        std::vector<std::string>{"holder/inner/kernel", "holder/inner/bias", "alone/kernel", "alone/bias"});

  // Keras's Sequential.from_config deserializes each layer with its build_config, which builds
  // it outside the Sequential's scope: the reloaded model's paths are dense/kernel, ...
  const std::shared_ptr<md::Layer> reloaded = md::deserialize(md::serialize(with_input));
  CHECK(mt::paths_of(reloaded->weights()) ==
        std::vector<std::string>{"dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"});
}

// Found by the interop check (scripts/interop.sh): a function returning md::Model that builds a
// Sequential sliced it into a Model named "Sequential" that wrote a Functional config, which
// keras.saving.load_model refused ("Could not deserialize 'keras.src.models.functional.Sequential'").
TEST_CASE("sequential: a Sequential copied into an md::Model is the functional model over its graph",
          "[models][sequential][config]") {
  md::clear_session();
  md::Sequential seq({md::Input({3}, "in"), md::layers::Dense({.units = 4, .activation = "relu", .name = "hidden"}),
                      md::layers::Dense({.units = 2, .name = "out"})},
                     "seq");
  const auto as_model = [&]() -> md::Model { return seq; };
  md::Model model = as_model();
  CHECK(model.class_name() == "Functional");
  CHECK(seq.class_name() == "Sequential");
  const md::json object = md::serialize(model);
  CHECK(object["class_name"] == "Functional");
  CHECK(object["module"] == "keras.src.models.functional");
  CHECK(object["registered_name"] == "Functional");
  CHECK(object["config"]["input_layers"] == md::json::parse(R"(["in", 0, 0])"));
  CHECK(md::serialize(seq)["class_name"] == "Sequential");
  // The same model: weights and predictions are shared.
  const md::Tensor x = md::random::normal({2, 3}, 0.0f, 1.0f, 7);
  CHECK(mt::same_bits(model(x), seq(x)));
  std::vector<md::Tensor> halved;
  for (const md::Tensor& w : seq.get_weights()) halved.push_back(w * 0.5f);
  model.set_weights(halved);
  CHECK(seq.get_weights()[0].to_vector() == halved[0].to_vector());
  // Copies of the Sequential itself, and assignments, stay Sequential; assigning one into a
  // Model gives the functional model again.
  md::Sequential copy = seq;
  CHECK(copy.class_name() == "Sequential");
  md::Sequential assigned({md::layers::Dense({.units = 1})}, "other");
  assigned = seq;
  CHECK(assigned.class_name() == "Sequential");
  CHECK(md::serialize(assigned)["config"]["name"] == "seq");
  const md::Tensor other_in = md::Input({3});
  md::Model reassigned(other_in, md::layers::Dense({.units = 1})(other_in));
  reassigned = seq;
  CHECK(reassigned.class_name() == "Functional");
  // Nested in a graph, a Sequential keeps its class.
  const md::Tensor in = md::Input({3}, "outer_in");
  md::Model outer(in, seq(in), "outer");
  CHECK(outer.layers().back()->class_name() == "Sequential");
  // Saved from the Model handle, it loads back, and so does its .keras archive.
  mt::TempDir dir;
  md::save_config(model, dir.file("model.json"));
  md::Model from_json = md::load_config(dir.file("model.json"));
  from_json.set_weights(model.get_weights());
  CHECK(mt::same_bits(from_json(x), model(x)));
  model.save(dir.file("model.keras"));
  CHECK(mt::same_bits(md::load_model(dir.file("model.keras"))(x), model(x)));
}

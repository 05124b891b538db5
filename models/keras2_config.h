#pragma once
// Keras 2 formats (tf.keras <= 2.15), translated into the Keras 3 forms that minidl's readers
// take. This is the one place that knows Keras 2: Model::from_config, Sequential::from_config,
// md::model_from_config / md::load_config and md::load_model (legacy `.h5` files) call it, so a
// Keras 2 config loads wherever a Keras 3 one does.
//
//   md::Model model = md::load_config("keras2_model.json");   // model.to_json() of tf.keras 2.x
//   md::Model trained = md::load_model("keras2_model.h5");    // model.save("x.h5"), compiled
//   md::json k3 = md::keras2::model_config(md::read_json_file("keras2_model.json"));
//
// What is translated (facts from Keras 2.15's keras/src/engine/functional.py, node.py,
// saving/legacy/*.py and Keras 3.15's keras/src/models/functional.py):
//   - the envelope: "keras_version" and "backend" are dropped; class_name "Model" (tf.keras
//     <= 2.3) is "Functional";
//   - InputLayer "batch_input_shape" is "batch_shape"; a Sequential whose first layer carries
//     batch_input_shape (input_shape=...) gets the InputLayer Keras 2 made for it; on any other
//     layer the key is dropped (Keras 3 ignores it too);
//   - inbound_nodes [[["dense", 0, 0, {kwargs}], ...], ...] become {"args", "kwargs"} nodes (one
//     reference: args [x]; several: args [[x, y]]; the kwargs of the last reference, as Keras 3
//     reads them), tensor references inside kwargs (an explicit mask) become keras tensors, and
//     references to a nested model lose the node Keras 2 counted for the model itself;
//   - dtypes: a string or Keras 2's {"class_name": "Policy"} is a DTypePolicy (InputLayer keeps
//     its string, as Keras 3 writes it);
//   - initializers: the "...V2" aliases, the V1 configs' "dtype" key, VarianceScaling's
//     distribution "normal" (Keras 2's alias of "truncated_normal"), and VarianceScaling as the
//     Glorot, He or Lecun initializer it equals (minidl has those, not VarianceScaling itself);
//   - Embedding's "input_length" is dropped (Keras 3 ignores it); Attention and
//     AdditiveAttention's "causal": false is dropped;
//   - training_config (legacy `.h5`): the optimizer ("Custom>Adam", the legacy optimizers'
//     "decay" and "lr", the EMA keys when use_ema is false, "jit_compile",
//     "is_legacy_optimizer"), the loss (reduction "auto" is "sum_over_batch_size", the wrapper's
//     "fn" key) and the metrics (per-output lists, MeanMetricWrapper(fn=...) as the metric class).
// What cannot be translated raises an md::Error naming the model, the layer and the key:
// NotImplementedError for Keras 2 features with no Keras 3 form in minidl (TFOpLambda layers,
// Attention's "causal": true, another VarianceScaling, an initializer of another dtype, an
// optimizer's "decay" other than 0, per-output losses and metrics), ValueError for malformed
// parts. Inside md::model_from_config these arrive as Keras's TypeError "Error when
// deserializing class 'Functional' ...", with the message above at its end. Keys that Keras 3 shares are left to the class's
// own reader, which names the key itself (a regularizer, an unknown layer or initializer).
#include <optional>
#include <string>
#include <vector>

#include "minidl/core/json.h"

namespace minidl::keras2 {

// A whole model envelope {"class_name", "config", "keras_version", "backend"} (to_json(), or a
// legacy `.h5` file's model_config): the envelope in Keras 3's form. The configs inside are
// translated by Model::from_config and Sequential::from_config (functional_config and
// sequential_config below). A Keras 3 envelope comes back unchanged.
json model_config(const json& object);

// The config of a Functional model (its "layers", "input_layers", "output_layers"), every
// layer entry and inbound node in Keras 3's form. A Keras 3 config comes back unchanged, so
// translating twice is harmless.
json functional_config(const json& config);

// The config of a Sequential model ("name", "layers", ...), likewise.
json sequential_config(const json& config);

// One layer envelope {"class_name", "config", ...} of a Keras 2 model; `model` names the model
// in errors.
json layer_config(const json& object, const std::string& model);

// A legacy `.h5` file's training_config ({"optimizer_config", "loss", "metrics",
// "weighted_metrics", "loss_weights"}) as the compile_config Model::compile_from_config takes.
json compile_config(const json& training_config);

// The name minidl gives the optimizer variable that a Keras 2 optimizer weight holds, or nullopt
// when the name does not say. `optimizer_class` is the optimizer's class ("Adam"),
// `variable_paths` the model's trainable variable paths ("dense/kernel"):
//   "iteration:0" (Keras 2.11+) or "Adam/iter:0" (legacy optimizers)    -> "iteration"
//   "Adam/m/dense/kernel:0" (Keras 2.11+: <optimizer>/<slot>/<variable>)  -> "dense_kernel_momentum"
//   "Adam/dense/kernel/m:0" (legacy: <optimizer>/<variable>/<slot>)       -> "dense_kernel_momentum"
// Slots are renamed as Keras 3 names them (Adam m, v, vhat: momentum, velocity, velocity_hat;
// SGD m: momentum; RMSprop rms: velocity, mg: average_gradient). Keras 2 names a Sequential's
// weights "dense/kernel" where Keras 3 (and minidl) prefix the model's name
// ("sequential/dense/kernel"): a variable path that ends with "/" + the Keras 2 path matches too,
// when it is the only one that does.
std::optional<std::string> optimizer_variable_name(const std::string& keras2_name, const std::string& optimizer_class,
                                                   const std::vector<std::string>& variable_paths);

}  // namespace minidl::keras2

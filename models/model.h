#pragma once
// minidl::Model — a functional graph of layers, traced from symbolic inputs to outputs
// (Keras's Functional model). A model is a layer: call it on concrete data to run the graph,
// or on symbolic tensors to nest it in a bigger graph.
//
// Its parts: the graph is a Function (models/function.h); the Model class itself is in
// models/model.cpp, its config in models/model_config.cpp, training in models/training.cpp.
//
//   md::Tensor q = md::Input({8, 16}, "query");
//   md::Tensor v = md::Input({md::None, 16}, "value");
//   md::Tensor c = md::layers::AdditiveAttention()({q, v});
//   md::Tensor y = md::layers::Dense({.units = 10})(md::layers::GlobalAveragePooling1D()(c));
//   md::Model model({q, v}, {y});
//   model.summary();
//   md::Tensor pred = model({q_data, v_data});
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "minidl/layers/layer.h"
#include "minidl/models/function.h"
#include "minidl/models/training.h"

namespace minidl {

class Model : public LayerOf<Model> {
 public:
  // The graph between symbolic `inputs` and `outputs`. Throws ValueError for a disconnected
  // graph, a cycle or duplicate operation names, with Keras's messages.
  Model(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs, const std::string& name = {});
  Model(const Tensor& input, const Tensor& output, const std::string& name = {});
  // A copy is a handle to the same model. Copying a Sequential into a Model (`md::Model m =
  // md::Sequential(...)`, or a function returning md::Model that builds a Sequential) gives the
  // functional model over the Sequential's graph, as keras.Model(seq.inputs, seq.outputs) does:
  // its class is "Functional" and it writes a Functional config, which Keras and minidl load.
  Model(const Model& other);
  Model& operator=(const Model& other);
  // Keras's Functional config (get_config()), as written by md::serialize; Keras 2's form loads
  // too (models/keras2_config.h).
  static Model from_config(const json& config);

  // The graph's operations, inputs first then by decreasing depth (Keras's model.operations).
  std::vector<std::shared_ptr<Operation>> operations() const;
  // The operations that are layers, in the same order (Keras's model.layers).
  std::vector<std::shared_ptr<Layer>> layers() const;
  // Throws ValueError naming the missing layer.
  std::shared_ptr<Layer> get_layer(const std::string& name) const;
  // The symbolic tensors the model was built from.
  const std::vector<Tensor>& graph_inputs() const;
  const std::vector<Tensor>& graph_outputs() const;
  // The traced graph (empty for a Sequential model that has no input shape yet).
  const Function& graph() const;

  // Keras's summary table: layer name and type, output shape, parameters, connections; totals.
  void summary(int line_length = 0) const;
  std::string summary_string(int line_length = 0) const;

  // Graphviz DOT text of the graph (Keras's model_to_dot); see md::plot_model to render it.
  std::string to_dot(bool show_shapes = true) const;

  // ---- training (models/training.cpp; save/save_weights/load_weights in models/model.cpp) --
  // Sets the optimizer, loss and metrics (Keras's compile); compiling again replaces them.
  void compile(const CompileOptions& options);
  bool compiled() const;
  // Trains for options.epochs over (x, y) in shuffled batches; returns the per-epoch logs.
  // Throws ValueError for x/y sample counts that differ, an uncompiled model, labels the loss
  // cannot take, and a NaN or infinite loss (naming the epoch and step).
  History fit(const ModelInputs& x, const Tensor& y, const FitOptions& options = {});
  // The loss and metrics over (x, y), in inference mode.
  Logs evaluate(const ModelInputs& x, const Tensor& y, const EvaluateOptions& options = {});
  // The model's (first) output over x, batch by batch, in inference mode.
  Tensor predict(const ModelInputs& x, const PredictOptions& options = {});
  // One optimizer step on one batch; the logs of that batch alone.
  Logs train_on_batch(const ModelInputs& x, const Tensor& y);
  Logs test_on_batch(const ModelInputs& x, const Tensor& y);
  std::shared_ptr<optim::Optimizer> optimizer() const;
  std::shared_ptr<losses::Loss> loss() const;
  std::vector<std::shared_ptr<metrics::Metric>> metrics() const;
  // Keras-layout weights files (models/weights_h5.h): "<name>.weights.h5".
  void save_weights(const std::string& path) const;
  void load_weights(const std::string& path);
  // A callback sets this to end fit() after the current epoch (Keras's model.stop_training).
  void set_stop_training(bool stop);
  bool stop_training() const;
  // A callback's on_train_begin sets the epoch fit() starts from (BackupAndRestore resuming;
  // Keras's model._initial_epoch).
  void set_initial_epoch(int epoch);
  // {"optimizer", "loss", "loss_weights", "metrics", "weighted_metrics", "run_eagerly",
  // "steps_per_execution", "jit_compile"} as Keras's get_compile_config; null when not compiled.
  json get_compile_config() const;
  // Compiles from such a config (Keras's compile_from_config, used by md::load_model): the
  // optimizer, loss and metrics are deserialized, and the optimizer is built on the model's
  // trainable variables so that saved optimizer state can be loaded into it. ValueError for
  // what minidl cannot compile (loss_weights, weighted_metrics, per-output metrics).
  //   model.compile_from_config(other.get_compile_config());
  void compile_from_config(const json& config);
  // The whole model as a Keras 3 `.keras` archive (models/keras_file.h): config, compile
  // config, weights and optimizer state. md::load_model reads it back.
  void save(const std::string& path) const;

  json get_config() const override;
  json get_build_config() const override;
  // get_compile_config(), or {} when not compiled: what md::serialize writes as the model's
  // "compile_config" (Keras's to_json). compile_from_serialized_config is compile_from_config.
  json serialized_compile_config() const override;
  void compile_from_serialized_config(const json& compile_config) override;
  std::string module() const override { return "keras.src.models.functional"; }
  std::optional<std::string> registered_name() const override { return "Functional"; }

 protected:
  // For subclasses (Sequential) that set up their graph later.
  Model(std::string class_name, std::string name, bool trainable);
  void set_graph(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs);
  // A graph of one input and one output tensor (Keras's Functional(inputs=x, outputs=y)).
  void set_graph(const Tensor& input, const Tensor& output);
  bool has_graph() const;
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  // Makes `graph` the model's graph and tracks its layers. The Function is replaced in place,
  // so every copy of this model (they share it) sees the new graph.
  void replace_graph(Function graph);
  // Input `index` checked against the graph's Input shape (Keras's input_spec: known dims must
  // match, None dims are free) after Keras's rank adjustment (a trailing axis of size 1 may be
  // added or dropped). Throws ValueError naming the input, the model and both shapes.
  Tensor checked_input(size_t index, const Tensor& x) const;

  Shared<Function> graph_;
  // Compile state and the stop flag (models/detail/training_state.h).
  struct Training;
  Shared<Training> training_;
  // One step on a batch (training or not): the loss value, metrics updated. A NaN or infinite
  // loss throws, naming `where`, before any weight moves; with `callbacks_decide` (fit with
  // callbacks) it skips the update and returns the value instead, so that a batch hook
  // (TerminateOnNaN) can stop training first: fit throws when none did.
  double run_batch(const std::vector<Tensor>& x, const Tensor& y, bool training, const std::string& where,
                   bool callbacks_decide = false);
  void check_compiled(const std::string& method) const;
  // Data-parallel fit() (models/distribution.h): checks the global batch size and that every
  // process has the same model and sample count, builds the model if needed, and gives every
  // process process 0's weights (and optimizer state, when resuming).
  void start_data_parallel(const std::vector<Tensor>& x, int64_t batch_size, int64_t samples);
};

}  // namespace minidl

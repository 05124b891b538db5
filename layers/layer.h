#pragma once
// minidl::Layer — Keras's Layer: an Operation with weights, built on its first call.
//
//   md::layers::Dense dense({.units = 10, .activation = "relu"});
//   md::Tensor y = dense(x);                 // builds from x's shape, then calls
//   dense.weights();                         // {kernel, bias}
//   md::Tensor z = dense(md::Input({784}));  // symbolic: records a graph node
//
// The same call works on concrete and symbolic tensors. A layer object called twice shares its
// weights.
//
// A layer object is a handle, like Tensor and Variable: copies are the same layer. Everything a
// layer sets after construction lives in state its copies share: the base's (name, weights,
// trainable, built, graph nodes) and, for a class that keeps more, its own struct held in a
// `md::Shared<...>` member. Options fixed by the constructor are plain members. A graph holds a
// heap copy of a layer made on the stack, and that copy stays the same layer, whichever copy
// builds it. Create sub-layers in the constructor, so that copies share them.
//
// Writing a layer: derive from md::LayerOf<YourClass> (which gives graphs their copy), create
// weights in build_weights() with add_weight() into your shared state, compute in call(), and
// register the class with MINIDL_REGISTER_LAYER (layers/registration.h).
//   class Scale : public md::LayerOf<Scale> {
//    public:
//     explicit Scale(std::string name = {}) : LayerOf("Scale", std::move(name)) {}
//    protected:
//     void build_weights(const md::ShapeSpec& input_shape) override {
//       state_->factor = add_weight("factor", {input_shape.shape().back()}, "ones");
//     }
//     std::vector<md::Tensor> call(const md::CallArgs& args, const md::CallContext&) override {
//       return {args.input() * state_->factor.value()};
//     }
//    private:
//     struct State {
//       md::Variable factor;
//     };
//     md::Shared<State> state_;
//   };
//   MINIDL_REGISTER_LAYER(Scale);
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "minidl/autograd/variable.h"
#include "minidl/core/call_args.h"
#include "minidl/core/json.h"
#include "minidl/core/operation.h"
#include "minidl/core/random.h"
#include "minidl/core/shared.h"
#include "minidl/layers/constraints.h"
#include "minidl/layers/initializers.h"
#include "minidl/layers/regularizers.h"
#include "minidl/layers/shape_spec.h"

namespace minidl {

// What a layer's call() receives besides its arguments.
struct CallContext {
  bool training = false;
  // One mask per tensor of the first argument (undefined where there is none): the `mask`
  // passed to the call, or else the inputs' own masks (Tensor::keras_mask).
  std::vector<Tensor> masks;
  Tensor mask() const { return masks.empty() ? Tensor() : masks[0]; }
};

// Options every layer call accepts.
struct CallOptions {
  std::vector<Tensor> mask{};       // {} = use the inputs' own masks
  std::optional<bool> training{};   // unset = the enclosing model call's, else false
};

// Checks on the first input (Keras's InputSpec); unset fields are not checked.
struct InputSpec {
  std::optional<int64_t> ndim{}, min_ndim{}, max_ndim{};
  std::map<int64_t, int64_t> axes{};  // axis -> required size
};

// How Layer::add_weight creates a weight (Keras's add_weight arguments).
//   add_weight("kernel", {in, units}, {.initializer = o.kernel_initializer,
//                                      .regularizer = o.kernel_regularizer,
//                                      .constraint = o.kernel_constraint});
struct WeightOptions {
  Initializer initializer = "glorot_uniform";
  bool trainable = true;
  RegularizerArg regularizer{};  // its penalty joins losses(), recomputed when read
  ConstraintArg constraint{};    // applied by the optimizer after each update step
};

class Layer : public Operation {
 public:
  // `dtype` must be "float32" (minidl computes in float32).
  explicit Layer(std::string class_name, std::string name = {}, bool trainable = true,
                 std::string dtype = "float32");

  // ---- calling ------------------------------------------------------------------------------
  Tensor operator()(const Tensor& x, const CallOptions& options = {});
  Tensor operator()(const std::vector<Tensor>& xs, const CallOptions& options = {});
  // Every output (for layers with several).
  std::vector<Tensor> call_all(const Tensor& x, const CallOptions& options = {});
  std::vector<Tensor> call_all(const std::vector<Tensor>& xs, const CallOptions& options = {});
  // The full call pipeline: checks, build, training and mask resolution, then call() on
  // concrete inputs or compute_output_spec() plus a graph node on symbolic ones.
  std::vector<Tensor> invoke(const CallArgs& args) override;
  std::vector<Tensor> invoke(const CallArgs& args, std::optional<bool> training);

  // ---- building -----------------------------------------------------------------------------
  // Creates the weights for `input_shape` (through build_weights) once; later calls do nothing.
  virtual void build(const ShapeSpec& input_shape) final;
  bool built() const;
  // {"input_shape": ...} once built (Keras's get_build_config), else null.
  virtual json get_build_config() const;
  // Builds from get_build_config's form; a layer with another form overrides both.
  virtual void build_from_config(const json& build_config);
  // The "compile_config" that md::serialize writes beside build_config, as Keras's
  // serialize_keras_object does for trainers: a model writes its compile config ({} until
  // compiled); other layers write none (null, the default).
  virtual json serialized_compile_config() const { return nullptr; }
  // md::deserialize gives an object its saved, non-empty compile_config, as Keras's
  // deserialize_keras_object calls compile_from_config: a model compiles from it. Other layers
  // have nothing to compile: TypeError.
  virtual void compile_from_serialized_config(const json& compile_config);

  // ---- shapes and masks ----------------------------------------------------------------------
  virtual ShapeSpec compute_output_shape(const ShapeSpec& input_shape);
  std::vector<Tensor> output_spec(const CallArgs& args) final;
  virtual std::vector<Tensor> compute_output_spec(const CallArgs& args, const CallContext& ctx);
  virtual bool supports_masking() const { return false; }
  // The mask for the outputs; the default passes the first input's mask through when the layer
  // supports masking.
  virtual Tensor compute_mask(const CallArgs& args, const std::vector<Tensor>& masks);

  // ---- weights ------------------------------------------------------------------------------
  // Creates and tracks a weight `name` whose path is Keras's: "<layer path>/<name>", where the
  // layer's path is the path of the layer that was building or calling it when it was first
  // built or called, then its name ("dense/kernel" at the top level, "sequential/dense/kernel"
  // for a Dense that a Sequential builds). Throws once built.
  Variable add_weight(const std::string& name, const Shape& shape, const Initializer& initializer = "glorot_uniform",
                      bool trainable = true);
  // The same with a regularizer and a constraint, which the variable carries
  // (Variable::regularizer / constraint), so that any layer gets them by passing them here.
  Variable add_weight(const std::string& name, const Shape& shape, const WeightOptions& options);
  std::vector<Variable> weights() const;
  std::vector<Variable> trainable_weights() const;
  std::vector<Variable> non_trainable_weights() const;
  // Aliases used by optimizers (Keras's trainable_variables).
  std::vector<Variable> trainable_variables() const { return trainable_weights(); }
  std::vector<Tensor> get_weights() const;
  void set_weights(const std::vector<Tensor>& values);
  int64_t count_params() const;
  bool trainable() const;
  void set_trainable(bool trainable);
  const std::string& dtype() const;
  // The path of this layer's name scope, which prefixes its weights' paths: "seq/dense" for a
  // Dense that a Sequential "seq" built (Keras's name_scope(self.name, caller=self)).
  std::string scope_path() const;

  // Sub-layers whose weights this layer owns (tracked with track()).
  std::vector<std::shared_ptr<Layer>> sublayers() const;
  // The sub-layers under the names Keras's weights files give them (the Python attributes that
  // hold them: MultiHeadAttention's "query_dense", ...); empty (the default) files tracked
  // sub-layers in a "layers" container, as a model's.
  virtual std::vector<std::pair<std::string, std::shared_ptr<Layer>>> saved_sublayers() const { return {}; }

  // ---- losses (Keras's layer.losses) -------------------------------------------------------
  // The losses added during the last outermost concrete call (activity regularization and
  // add_loss), this layer's and its sub-layers', then one penalty per trainable weight that has
  // a regularizer, computed from the weight's current value (so under a GradientTape they
  // carry gradients). Model::fit adds their sum to the compiled loss.
  std::vector<Tensor> losses() const;
  // A scalar loss from inside call(); an outermost call starts a fresh list.
  void add_loss(const Tensor& loss);
  // Keras's activity_regularizer, which every layer has: on each concrete call it adds
  // regularizer(output) / batch size (the output's first dimension) for each output. Layers
  // whose Keras constructor takes the argument set it from their options; get_config writes
  // it when set.
  const RegularizerArg& activity_regularizer() const;
  void set_activity_regularizer(RegularizerArg regularizer);

  // ---- configs ------------------------------------------------------------------------------
  // {"name", "trainable", "dtype"} with dtype as Keras 3's DTypePolicy object, and
  // "activity_regularizer" when one is set.
  json get_config() const override;
  std::string module() const override;
  std::optional<std::string> registered_name() const override;

 protected:
  // Override to create weights with add_weight(); build() calls it exactly once.
  virtual void build_weights(const ShapeSpec& input_shape);
  // Override with the computation. Inputs come from args (args.input(), args.inputs()).
  virtual std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) = 0;
  // For layers without state: marks the layer built from its constructor, recording no build
  // shape (so no build_config), as Keras's _build_at_init does for Activation, Dropout,
  // Reshape and the global pooling layers.
  void build_at_init();
  // Keras's InputSpec checks on the first input, run before build and call.
  void set_input_spec(InputSpec spec);
  // Tracks a sub-layer so that its weights count as this layer's (call in the constructor).
  void track(Layer& sublayer);
  // Forgets every tracked sub-layer (a model re-tracks its graph's layers after Sequential's pop).
  void untrack_sublayers();
  // Forgets that the layer was built (Sequential rebuilds its graph after add/pop).
  void mark_unbuilt();
  // A seed stream that belongs to the layer (Keras's SeedGenerator), e.g. for dropout.
  random::SeedGenerator& seed_generator(std::optional<uint64_t> seed);

 protected:
  // A heap copy of this handle (LayerOf implements it).
  std::shared_ptr<Operation> copy_handle() const override = 0;
  [[noreturn]] static void throw_missing_layer_of(const char* actual_type, const char* layer_of_type);

 private:
  std::vector<Tensor> run(const CallArgs& args) final;
  CallContext make_context(const CallArgs& args, std::optional<bool> training) const;
  void check_input_spec(const CallArgs& args) const;

  struct LayerState {
    bool built = false;
    bool trainable = true;
    std::string dtype = "float32";
    std::vector<Variable> trainable_variables;
    std::vector<Variable> non_trainable_variables;
    std::vector<std::shared_ptr<Layer>> sublayers;
    std::optional<ShapeSpec> build_shape;
    std::optional<InputSpec> input_spec;
    std::unique_ptr<random::SeedGenerator> seed_generator;
    // Keras's _parent_path: the name-scope path when the layer first opened its scope.
    std::optional<std::string> parent_path;
    RegularizerArg activity_regularizer;
    std::vector<Tensor> losses;  // added during the last outermost call
  };
  void clear_losses();
  class NameScope;
  Shared<LayerState> layer_state_;
};

// The base of every concrete layer class: Layer (or `Base`, a class derived from it) plus the
// heap copy a graph holds of a layer made on the stack (the same layer: see Layer).
//   class Dense : public LayerOf<Dense> { ... };
//   class AdditiveAttention : public LayerOf<AdditiveAttention, Attention> { ... };
// A class derived from a concrete layer derives from LayerOf<Itself, ThatLayer> in turn;
// otherwise putting it in a graph throws TypeError naming both classes.
template <class Derived, class Base = Layer>
class LayerOf : public Base {
 public:
  using Base::Base;

 protected:
  std::shared_ptr<Operation> copy_handle() const override {
    if (typeid(*this) != typeid(Derived)) Layer::throw_missing_layer_of(typeid(*this).name(), typeid(Derived).name());
    return std::make_shared<Derived>(static_cast<const Derived&>(*this));
  }
};

// The training flag of the innermost enclosing layer call on this thread (Keras's call
// context), so that model(x, training=true) reaches every layer inside.
std::optional<bool> current_training();

}  // namespace minidl

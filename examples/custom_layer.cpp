// A user-defined layer: one class plus one registration line. It builds on first call, traces
// symbolically, trains with the tape, and round-trips through JSON like the built-in layers.
#include <minidl/minidl.h>

namespace md = minidl;

struct FeatureAffineOptions {
  float initial_scale = 1.0f;
  std::string name{};
};

// y = x * scale + shift, with one learned scale and shift per feature.
class FeatureAffine : public md::LayerOf<FeatureAffine> {
 public:
  explicit FeatureAffine(const FeatureAffineOptions& options = {})
      : LayerOf("FeatureAffine", options.name), initial_scale_(options.initial_scale) {}

  // Rebuilds the layer from get_config() output (used by md::deserialize and model configs).
  static FeatureAffine from_config(const md::json& config) {
    return FeatureAffine({.initial_scale = config.value("initial_scale", 1.0f), .name = config.value("name", "")});
  }
  md::json get_config() const override {
    md::json config = md::Layer::get_config();
    config["initial_scale"] = initial_scale_;
    return config;
  }
  bool supports_masking() const override { return true; }

 protected:
  void build_weights(const md::ShapeSpec& input_shape) override {
    const int64_t features = input_shape.shape().back();
    state_->scale = add_weight("scale", {features}, md::Initializer::constant(initial_scale_));
    state_->shift = add_weight("shift", {features}, "zeros");
  }
  std::vector<md::Tensor> call(const md::CallArgs& args, const md::CallContext&) override {
    return {args.input() * state_->scale.value() + state_->shift.value()};
  }

 private:
  float initial_scale_;  // an option: fixed at construction, a plain member
  // What build_weights() sets lives in state every copy of the layer shares (a graph holds a
  // copy of a layer made on the stack).
  struct State {
    md::Variable scale, shift;
  };
  md::Shared<State> state_;
};
MINIDL_REGISTER_LAYER(FeatureAffine);

int main() {
  // Eager use, and a gradient through the layer.
  FeatureAffine affine({.initial_scale = 2.0f});
  md::Tensor x = md::random::normal({4, 3}, 0.0f, 1.0f, /*seed=*/1);
  md::GradientTape tape;
  md::Tensor loss = md::ops::mean(md::ops::square(affine(x)));
  std::vector<md::Tensor> grads = tape.gradient(loss, affine.trainable_weights());
  fmt::print("weights: {}, d loss / d scale = {}\n", affine.weights().size(), grads[0]);

  // In a functional model, saved as JSON and loaded back.
  md::Tensor input = md::Input({3}, "features");
  md::Tensor output = md::layers::Dense({.units = 2})(FeatureAffine({.name = "affine"})(input));
  md::Model model(input, output, "with_custom_layer");
  model.summary();
  md::save_config(model, "custom_layer_model.json");
  md::Model again = md::load_config("custom_layer_model.json");
  again.set_weights(model.get_weights());
  const bool same = model(x).to_vector() == again(x).to_vector();
  fmt::print("reloaded '{}': {} layers, same predictions: {}\n", again.name(), again.layers().size(), same);
  fmt::print("config of the custom layer: {}\n", md::serialize(*again.get_layer("affine")).dump());
  return same ? 0 : 1;
}

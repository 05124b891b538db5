// A user-written recurrent cell: one class with state_size() and step(), run over time by
// md::layers::RNN (masks, go_backwards, return_state, Bidirectional all work), trained with the
// tape and round-tripped through JSON like the built-in cells.
#include <minidl/minidl.h>

namespace md = minidl;

struct MinimalCellOptions {
  int64_t units = 0;
  std::string name{};
};

// h' = tanh(x @ kernel + h @ recurrent_kernel): Keras's MinimalRNNCell.
class MinimalRNNCell : public md::LayerOf<MinimalRNNCell, md::layers::RNNCell> {
 public:
  explicit MinimalRNNCell(const MinimalCellOptions& options)
      : LayerOf("MinimalRNNCell", options.name), units_(options.units) {}
  static MinimalRNNCell from_config(const md::json& config) {
    return MinimalRNNCell({.units = config.at("units").get<int64_t>(), .name = config.value("name", "")});
  }
  md::json get_config() const override {
    md::json config = md::Layer::get_config();
    config["units"] = units_;
    return config;
  }
  std::vector<int64_t> state_size() const override { return {units_}; }
  std::vector<md::Tensor> step(const md::Tensor& x, const std::vector<md::Tensor>& states, bool /*training*/) override {
    const md::Tensor h = md::ops::tanh(md::ops::matmul(x, state_->kernel.value()) +
                                       md::ops::matmul(states[0], state_->recurrent_kernel.value()));
    return {h, h};  // the output, then the new states
  }

 protected:
  void build_weights(const md::ShapeSpec& input_shape) override {
    state_->kernel = add_weight("kernel", {step_input_shape(input_shape).back(), units_}, "glorot_uniform");
    state_->recurrent_kernel = add_weight("recurrent_kernel", {units_, units_}, "orthogonal");
  }

 private:
  int64_t units_;
  struct State {
    md::Variable kernel, recurrent_kernel;
  };
  md::Shared<State> state_;
};
MINIDL_REGISTER_LAYER(MinimalRNNCell);

int main() {
  md::random::set_global_seed(1);
  // Sequences of 10 steps of 3 features; the target is the sum of the first feature.
  const md::Tensor x = md::random::uniform({256, 10, 3}, -1.0f, 1.0f, 2);
  const md::Tensor y = md::ops::sum(md::ops::slice(x, 2, 0, 1), {1}) * 0.1f;

  md::Sequential model({md::Input({10, 3}), md::layers::RNN(MinimalRNNCell({.units = 16})),
                        md::layers::Dense({.units = 1})});
  model.compile({.optimizer = "adam", .loss = "mse"});
  const double before = model.evaluate(x, y, {.verbose = 0}).at("loss");
  model.fit(x, y, {.epochs = 20, .batch_size = 32, .verbose = 0});
  const double after = model.evaluate(x, y, {.verbose = 0}).at("loss");
  fmt::print("loss before {:.4f}, after {:.4f}\n", before, after);

  // The config names the cell, and rebuilds the same model.
  const md::json config = md::serialize(model);
  const std::shared_ptr<md::Layer> again = md::deserialize(config);
  fmt::print("cell class in the config: {}\n", config["config"]["layers"][1]["config"]["cell"]["class_name"].dump());
  return after < before && md::serialize(*again)["config"] == config["config"] ? 0 : 1;
}

#pragma once
// LayerNormalization: normalises each sample over `axis` to zero mean and unit variance, then
// scales by gamma and shifts by beta (Keras's LayerNormalization).
//   md::layers::LayerNormalization norm;                        // axis -1, epsilon 1e-3
//   md::layers::LayerNormalization norm2({.axis = {-2, -1}});   // several axes
//   md::Tensor y = norm(x);                                      // same shape as x
// y = (x - mean) / sqrt(var + epsilon) * gamma + beta, with the statistics over `axis`.
// rms_scaling (deprecated in Keras) scales x / sqrt(var + epsilon) * gamma, without centring
// and without beta, exactly as Keras does.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "minidl/layers/initializers.h"
#include "minidl/layers/layer.h"

namespace minidl::layers {

// Keras's `axis` argument: one int (written as an int in configs) or a list of ints.
//   .axis = -1   or   .axis = {-2, -1}
struct NormalizationAxis {
  NormalizationAxis(int64_t axis) : axes{axis} {}  // NOLINT: implicit, as Keras takes an int
  NormalizationAxis(std::initializer_list<int64_t> list) : axes(list), is_list(true) {}
  explicit NormalizationAxis(std::vector<int64_t> list) : axes(std::move(list)), is_list(true) {}
  json to_json() const { return is_list ? json(axes) : json(axes.at(0)); }
  std::string to_string() const;  // as Python prints it: "-1" or "[-2, -1]"

  std::vector<int64_t> axes;
  bool is_list = false;
};

struct LayerNormalizationOptions {
  NormalizationAxis axis = -1;
  double epsilon = 1e-3;
  bool center = true;   // add beta
  bool scale = true;    // multiply by gamma
  bool rms_scaling = false;
  Initializer beta_initializer = "zeros";
  Initializer gamma_initializer = "ones";
  RegularizerArg beta_regularizer{};
  RegularizerArg gamma_regularizer{};
  RegularizerArg activity_regularizer{};
  ConstraintArg beta_constraint{};
  ConstraintArg gamma_constraint{};
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class LayerNormalization : public LayerOf<LayerNormalization> {
 public:
  using Options = LayerNormalizationOptions;
  explicit LayerNormalization(const LayerNormalizationOptions& options = {});
  static LayerNormalization from_config(const json& config);
  // Keras's keys; once built, "axis" is the sorted list of the axes as given (Keras 3.15
  // rewrites self.axis in build(): -1 becomes [-1]).
  json get_config() const override;
  bool supports_masking() const override { return true; }
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;

  const Variable& gamma() const { return state_->gamma; }  // undefined without scale (or rms_scaling)
  const Variable& beta() const { return state_->beta; }    // undefined without center, or with rms_scaling
  // The normalised axes: as given before build, a sorted list after.
  const NormalizationAxis& axis() const { return state_->axis; }
  const LayerNormalizationOptions& options() const { return options_; }

 protected:
  void build_weights(const ShapeSpec& input_shape) override;
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  LayerNormalizationOptions options_;
  struct State {
    NormalizationAxis axis = -1;  // the option's until build() normalises it
    Variable gamma, beta;
  };
  Shared<State> state_;
};

}  // namespace minidl::layers

#pragma once
// Weight initializers with Keras's names, arguments and configs.
//   md::Initializer init = "glorot_uniform";                 // by name, unseeded
//   md::Initializer he = md::Initializer::he_normal(42);      // seeded: the same draw every time
//   md::Tensor w = init({784, 256});
// Seeded initializers give the same values on every call, like Keras's; unseeded ones draw new
// values each call from md::random's global seed stream (md::random::set_global_seed).
#include <cstdint>
#include <optional>
#include <string>

#include "minidl/core/json.h"
#include "minidl/core/tensor.h"

namespace minidl {

class Initializer {
 public:
  // One of: glorot_uniform, glorot_normal, he_normal, he_uniform, lecun_normal, lecun_uniform,
  // zeros, ones, random_normal, random_uniform, truncated_normal, constant, orthogonal (Keras's snake_case
  // and CamelCase names, plus "normal", "uniform", "zero", "one"). Throws ValueError otherwise.
  Initializer(const char* name);         // NOLINT: implicit, as Keras accepts strings
  Initializer(const std::string& name);  // NOLINT

  static Initializer glorot_uniform(std::optional<uint64_t> seed = {});
  static Initializer glorot_normal(std::optional<uint64_t> seed = {});
  static Initializer he_normal(std::optional<uint64_t> seed = {});
  static Initializer he_uniform(std::optional<uint64_t> seed = {});
  static Initializer lecun_normal(std::optional<uint64_t> seed = {});
  static Initializer lecun_uniform(std::optional<uint64_t> seed = {});
  static Initializer zeros();
  static Initializer ones();
  // Arguments are doubles, as Keras's Python floats, so that configs write 0.05 and not
  // float32's 0.05000000074505806.
  static Initializer constant(double value);
  static Initializer random_normal(double mean = 0.0, double stddev = 0.05, std::optional<uint64_t> seed = {});
  static Initializer random_uniform(double minval = -0.05, double maxval = 0.05, std::optional<uint64_t> seed = {});
  static Initializer truncated_normal(double mean = 0.0, double stddev = 0.05, std::optional<uint64_t> seed = {});
  // Keras's Orthogonal (the recurrent kernels' default): the Q of a normal draw's QR
  // decomposition (signs fixed by R's diagonal), transposed for wide shapes, times `gain`.
  static Initializer orthogonal(double gain = 1.0, std::optional<uint64_t> seed = {});

  Tensor operator()(const Shape& shape) const;

  const std::string& class_name() const { return class_name_; }
  // Keras's serialize(): {"module": "keras.initializers", "class_name": ..., "config": ..., "registered_name": null}
  json serialize() const;
  // Accepts that form, a bare class name or alias string, or Keras 2's {"class_name", "config"}.
  // Keras's input_axes/output_axes (VarianceScaling family) must be null: NotImplementedError.
  static Initializer deserialize(const json& value);

 private:
  Initializer() = default;
  static Initializer make(std::string class_name, double a, double b, std::optional<uint64_t> seed);
  std::string class_name_;  // Keras class: GlorotUniform, Zeros, RandomNormal, ...
  double a_ = 0.0, b_ = 0.0;  // mean/stddev, minval/maxval, or the constant
  std::optional<uint64_t> seed_;
};

}  // namespace minidl

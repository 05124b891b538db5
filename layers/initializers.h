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
  // zeros, ones, random_normal, random_uniform, truncated_normal, constant (Keras's snake_case
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
  static Initializer constant(float value);
  static Initializer random_normal(float mean = 0.0f, float stddev = 0.05f, std::optional<uint64_t> seed = {});
  static Initializer random_uniform(float minval = -0.05f, float maxval = 0.05f, std::optional<uint64_t> seed = {});
  static Initializer truncated_normal(float mean = 0.0f, float stddev = 0.05f, std::optional<uint64_t> seed = {});

  Tensor operator()(const Shape& shape) const;

  const std::string& class_name() const { return class_name_; }
  // Keras's serialize(): {"module": "keras.initializers", "class_name": ..., "config": ..., "registered_name": null}
  json serialize() const;
  // Accepts that form, a bare class name or alias string, or Keras 2's {"class_name", "config"}.
  static Initializer deserialize(const json& value);

 private:
  Initializer() = default;
  static Initializer make(std::string class_name, float a, float b, std::optional<uint64_t> seed);
  std::string class_name_;  // Keras class: GlorotUniform, Zeros, RandomNormal, ...
  float a_ = 0.0f, b_ = 0.0f;  // mean/stddev, minval/maxval, or the constant
  std::optional<uint64_t> seed_;
};

}  // namespace minidl

#include "minidl/layers/initializers.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "minidl/core/class_table.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"
#include "minidl/core/naming.h"
#include "minidl/core/random.h"

namespace minidl {
namespace {

// Keras's compute_fans: a vector is its own fan in and out; a matrix is (in, out); higher
// ranks multiply in the receptive field.
std::pair<double, double> fans(const Shape& shape) {
  if (shape.empty()) return {1.0, 1.0};
  if (shape.size() == 1) return {static_cast<double>(shape[0]), static_cast<double>(shape[0])};
  if (shape.size() == 2) return {static_cast<double>(shape[0]), static_cast<double>(shape[1])};
  double receptive = 1.0;
  for (size_t i = 0; i + 2 < shape.size(); ++i) receptive *= static_cast<double>(shape[i]);
  return {shape[shape.size() - 2] * receptive, shape[shape.size() - 1] * receptive};
}

struct VarianceScaling {
  double scale;
  const char* mode;
  const char* distribution;
};

const std::map<std::string, VarianceScaling>& variance_scaling() {
  static const std::map<std::string, VarianceScaling> table = {
      {"GlorotUniform", {1.0, "fan_avg", "uniform"}},  {"GlorotNormal", {1.0, "fan_avg", "truncated_normal"}},
      {"HeNormal", {2.0, "fan_in", "truncated_normal"}}, {"HeUniform", {2.0, "fan_in", "uniform"}},
      {"LecunNormal", {1.0, "fan_in", "truncated_normal"}}, {"LecunUniform", {1.0, "fan_in", "uniform"}},
  };
  return table;
}

const std::map<std::string, std::string>& class_names() {
  static const std::map<std::string, std::string> table = {
      {"glorot_uniform", "GlorotUniform"}, {"glorot_normal", "GlorotNormal"}, {"he_normal", "HeNormal"},
      {"he_uniform", "HeUniform"},         {"lecun_normal", "LecunNormal"},   {"lecun_uniform", "LecunUniform"},
      {"zeros", "Zeros"},                  {"zero", "Zeros"},                 {"ones", "Ones"},
      {"one", "Ones"},                     {"constant", "Constant"},          {"random_normal", "RandomNormal"},
      {"normal", "RandomNormal"},          {"random_uniform", "RandomUniform"}, {"uniform", "RandomUniform"},
      {"truncated_normal", "TruncatedNormal"}, {"orthogonal", "Orthogonal"},
  };
  return table;
}

std::string resolve(const std::string& name) {
  if (auto it = class_names().find(name); it != class_names().end()) return it->second;
  for (const auto& [alias, cls] : class_names()) {
    if (cls == name) return cls;
  }
  throw ValueError("Could not interpret initializer identifier: " + name);
}

json seed_json(const std::optional<uint64_t>& seed) { return seed ? json(*seed) : json(nullptr); }

}  // namespace

Initializer::Initializer(const char* name) : Initializer(std::string(name)) {}

Initializer::Initializer(const std::string& name) : class_name_(resolve(name)) {
  if (class_name_ == "RandomNormal" || class_name_ == "TruncatedNormal") {
    b_ = 0.05;
  } else if (class_name_ == "RandomUniform") {
    a_ = -0.05;
    b_ = 0.05;
  } else if (class_name_ == "Orthogonal") {
    a_ = 1.0;  // gain
  }
}

Initializer Initializer::make(std::string class_name, double a, double b, std::optional<uint64_t> seed) {
  Initializer init;
  init.class_name_ = std::move(class_name);
  init.a_ = a;
  init.b_ = b;
  init.seed_ = seed;
  return init;
}

Initializer Initializer::glorot_uniform(std::optional<uint64_t> seed) { return make("GlorotUniform", 0, 0, seed); }
Initializer Initializer::glorot_normal(std::optional<uint64_t> seed) { return make("GlorotNormal", 0, 0, seed); }
Initializer Initializer::he_normal(std::optional<uint64_t> seed) { return make("HeNormal", 0, 0, seed); }
Initializer Initializer::he_uniform(std::optional<uint64_t> seed) { return make("HeUniform", 0, 0, seed); }
Initializer Initializer::lecun_normal(std::optional<uint64_t> seed) { return make("LecunNormal", 0, 0, seed); }
Initializer Initializer::lecun_uniform(std::optional<uint64_t> seed) { return make("LecunUniform", 0, 0, seed); }
Initializer Initializer::zeros() { return make("Zeros", 0, 0, {}); }
Initializer Initializer::ones() { return make("Ones", 0, 0, {}); }
Initializer Initializer::constant(double value) { return make("Constant", value, 0, {}); }
Initializer Initializer::random_normal(double mean, double stddev, std::optional<uint64_t> seed) {
  return make("RandomNormal", mean, stddev, seed);
}
Initializer Initializer::random_uniform(double minval, double maxval, std::optional<uint64_t> seed) {
  return make("RandomUniform", minval, maxval, seed);
}
Initializer Initializer::truncated_normal(double mean, double stddev, std::optional<uint64_t> seed) {
  return make("TruncatedNormal", mean, stddev, seed);
}

Initializer Initializer::orthogonal(double gain, std::optional<uint64_t> seed) {
  return make("Orthogonal", gain, 0, seed);
}

namespace {

// Keras's Orthogonal on a normal draw: the draw is (max(rows, cols), min(rows, cols)) with rows
// the product of all but the last axis; its QR decomposition by modified Gram-Schmidt, in double,
// gives R a positive diagonal, which is what Keras's sign correction makes of any QR.
Tensor orthogonal_from(const Shape& shape, double gain, uint64_t seed) {
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) rows *= shape[i];
  const int64_t cols = shape.empty() ? 1 : shape.back();
  const int64_t m = std::max(rows, cols), n = std::min(rows, cols);
  const std::vector<float> draw = random::normal({m, n}, 0.0f, 1.0f, seed).to_vector();
  std::vector<double> q(draw.begin(), draw.end());  // (m, n) row-major; columns orthonormalised in place
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t k = 0; k < j; ++k) {
      double dot = 0.0;
      for (int64_t i = 0; i < m; ++i) dot += q[i * n + k] * q[i * n + j];
      for (int64_t i = 0; i < m; ++i) q[i * n + j] -= dot * q[i * n + k];
    }
    double norm = 0.0;
    for (int64_t i = 0; i < m; ++i) norm += q[i * n + j] * q[i * n + j];
    norm = std::sqrt(norm);
    for (int64_t i = 0; i < m; ++i) q[i * n + j] = norm > 0.0 ? q[i * n + j] / norm : 0.0;
  }
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      // Tall: Q itself; wide: Q transposed.
      const double v = rows >= cols ? q[r * n + c] : q[c * n + r];
      out[static_cast<size_t>(r * cols + c)] = static_cast<float>(gain * v);
    }
  }
  return Tensor::from_vector(out, shape);
}

}  // namespace

Tensor Initializer::operator()(const Shape& shape) const {
  if (class_name_ == "Zeros") return Tensor::zeros(shape);
  if (class_name_ == "Ones") return Tensor::ones(shape);
  if (class_name_ == "Constant") return Tensor::full(shape, static_cast<float>(a_));
  // A seeded initializer repeats its draw (Keras's behaviour); an unseeded one takes a fresh
  // seed from the global stream each time.
  const uint64_t seed = seed_ ? *seed_ : random::SeedGenerator().next();
  const auto a = static_cast<float>(a_), b = static_cast<float>(b_);
  if (class_name_ == "RandomNormal") return random::normal(shape, a, b, seed);
  if (class_name_ == "RandomUniform") return random::uniform(shape, a, b, seed);
  if (class_name_ == "TruncatedNormal") return random::truncated_normal(shape, a, b, seed);
  if (class_name_ == "Orthogonal") return orthogonal_from(shape, a_, seed);
  const VarianceScaling& vs = variance_scaling().at(class_name_);
  const auto [fan_in, fan_out] = fans(shape);
  double scale = vs.scale;
  if (std::string(vs.mode) == "fan_in") {
    scale /= std::max(1.0, fan_in);
  } else {
    scale /= std::max(1.0, (fan_in + fan_out) / 2.0);
  }
  if (std::string(vs.distribution) == "uniform") {
    const auto limit = static_cast<float>(std::sqrt(3.0 * scale));
    return random::uniform(shape, -limit, limit, seed);
  }
  // Keras divides by the stddev of a unit normal truncated at two standard deviations.
  const auto stddev = static_cast<float>(std::sqrt(scale) / 0.87962566103423978);
  return random::truncated_normal(shape, 0.0f, stddev, seed);
}

namespace {

// Keras writes a seed as an integer or null.
std::optional<uint64_t> seed_from(const ConfigReader& r) {
  const json* value = r.find("seed");
  if (value == nullptr || value->is_null()) return std::nullopt;
  if (!value->is_number_integer()) r.throw_mistyped("seed", "an integer or null", *value);
  return value->get<uint64_t>();
}

using InitializerFactory = ClassTable<Initializer>::Factory;

// A class whose config holds two numbers with defaults (mean/stddev, minval/maxval) and a seed.
InitializerFactory two_numbers(const char* cls, const char* first, double first_default, const char* second,
                               double second_default,
                               Initializer (*make)(double, double, std::optional<uint64_t>)) {
  return [=](const json& config) {
    const ConfigReader r(config, cls);
    return std::make_shared<Initializer>(make(r.optional<double>(first, first_default),
                                              r.optional<double>(second, second_default), seed_from(r)));
  };
}

// The VarianceScaling family: a seed, and Keras's input_axes/output_axes, which must be null.
InitializerFactory variance_scaling_class(const char* cls, Initializer (*make)(std::optional<uint64_t>)) {
  return [=](const json& config) {
    const ConfigReader r(config, cls);
    r.reject_non_null({"input_axes", "output_axes"});
    return std::make_shared<Initializer>(make(seed_from(r)));
  };
}

const ClassTable<Initializer>& initializer_classes() {
  static const ClassTable<Initializer> table(
      "initializer", "keras.initializers",
      {{"GlorotUniform", variance_scaling_class("GlorotUniform", &Initializer::glorot_uniform)},
       {"GlorotNormal", variance_scaling_class("GlorotNormal", &Initializer::glorot_normal)},
       {"HeNormal", variance_scaling_class("HeNormal", &Initializer::he_normal)},
       {"HeUniform", variance_scaling_class("HeUniform", &Initializer::he_uniform)},
       {"LecunNormal", variance_scaling_class("LecunNormal", &Initializer::lecun_normal)},
       {"LecunUniform", variance_scaling_class("LecunUniform", &Initializer::lecun_uniform)},
       {"Zeros", [](const json&) { return std::make_shared<Initializer>(Initializer::zeros()); }},
       {"Ones", [](const json&) { return std::make_shared<Initializer>(Initializer::ones()); }},
       {"Constant",
        [](const json& config) {
          const ConfigReader r(config, "Constant");
          return std::make_shared<Initializer>(Initializer::constant(r.optional<double>("value", 0.0)));
        }},
       {"RandomNormal", two_numbers("RandomNormal", "mean", 0.0, "stddev", 0.05, &Initializer::random_normal)},
       {"TruncatedNormal",
        two_numbers("TruncatedNormal", "mean", 0.0, "stddev", 0.05, &Initializer::truncated_normal)},
       {"RandomUniform",
        two_numbers("RandomUniform", "minval", -0.05, "maxval", 0.05, &Initializer::random_uniform)},
       {"Orthogonal", [](const json& config) {
          const ConfigReader r(config, "Orthogonal");
          return std::make_shared<Initializer>(Initializer::orthogonal(r.optional<double>("gain", 1.0), seed_from(r)));
        }}});
  return table;
}

}  // namespace

json Initializer::serialize() const {
  json config = json::object();
  if (variance_scaling().count(class_name_)) {
    config = {{"seed", seed_json(seed_)}, {"input_axes", nullptr}, {"output_axes", nullptr}};
  } else if (class_name_ == "RandomNormal" || class_name_ == "TruncatedNormal") {
    config = {{"seed", seed_json(seed_)}, {"mean", a_}, {"stddev", b_}};
  } else if (class_name_ == "RandomUniform") {
    config = {{"seed", seed_json(seed_)}, {"minval", a_}, {"maxval", b_}};
  } else if (class_name_ == "Constant") {
    config = {{"value", a_}};
  } else if (class_name_ == "Orthogonal") {
    config = {{"seed", seed_json(seed_)}, {"gain", a_}};
  }
  return initializer_classes().serialize(class_name_, config);
}

Initializer Initializer::deserialize(const json& value) {
  if (value.is_string()) return Initializer(value.get<std::string>());
  if (!value.is_object() || !value.contains("class_name") || !value["class_name"].is_string()) {
    throw TypeError("An initializer must be a name or an object with a string 'class_name'; received " +
                    value.dump() + ".");
  }
  // Keras 2 configs may name the class by an alias ("normal"); the table knows Keras 3's names.
  const std::string cls = resolve(value["class_name"].get<std::string>());
  const json config = value.contains("config") && value["config"].is_object() ? value["config"] : json::object();
  return *initializer_classes().create(cls, config);
}

}  // namespace minidl

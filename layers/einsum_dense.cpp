#include "minidl/layers/einsum_dense.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "minidl/autograd/ops.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"
#include "minidl/layers/einsum.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {
namespace {

// The three forms Keras's _analyze_einsum_string accepts: "X,Y->Z", "...X,Y->...Z" (left_elided)
// and "X...,Y->Z..." (X of two letters or more), each part letters only.
struct EquationForm {
  std::string input, weight, output;
  bool left_elided = false;
};

std::optional<EquationForm> parse_equation(const std::string& equation) {
  const auto letters = [](const std::string& text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); });
  };
  const size_t arrow = equation.find("->");
  if (arrow == std::string::npos || equation.find("->", arrow + 2) != std::string::npos) return std::nullopt;
  const std::string left = equation.substr(0, arrow);
  const size_t comma = left.find(',');
  if (comma == std::string::npos || left.find(',', comma + 1) != std::string::npos) return std::nullopt;
  EquationForm form{left.substr(0, comma), left.substr(comma + 1), equation.substr(arrow + 2)};
  const std::string dots = "...";
  const auto starts = [&](const std::string& t) { return t.compare(0, dots.size(), dots) == 0; };
  const auto ends = [&](const std::string& t) {
    return t.size() >= dots.size() && t.compare(t.size() - dots.size(), dots.size(), dots) == 0;
  };
  if (starts(form.input) && starts(form.output)) {
    form.input.erase(0, dots.size());
    form.output.erase(0, dots.size());
    form.left_elided = true;
  } else if (ends(form.input) && ends(form.output)) {
    form.input.resize(form.input.size() - dots.size());
    form.output.resize(form.output.size() - dots.size());
    if (form.input.size() < 2) return std::nullopt;
  }
  if (!letters(form.input) || !letters(form.weight) || !letters(form.output)) return std::nullopt;
  return form;
}

// Keras's _analyze_einsum_string: the kernel and bias shapes, the full output shape, and which
// kernel axes face the input and which the output (the initializer's fans).
struct Analysis {
  Shape kernel, bias, output;
  std::vector<size_t> input_axes, output_axes;
  bool has_bias = false;
};

std::string dims(const Shape& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + (s[i] == None ? std::string("None") : std::to_string(s[i]));
  return out;
}

Analysis analyze(const std::string& equation, const std::optional<std::string>& bias_axes, const Shape& input_shape,
                 const std::vector<int64_t>& partial_output) {
  const std::optional<EquationForm> form = parse_equation(equation);
  if (!form) {
    throw ValueError(fmt::format("Invalid einsum equation '{}'. Equations must be in the form [X],[Y]->[Z], "
                                 "...[X],[Y]->...[Z], or [X]...,[Y]->[Z]....",
                                 equation));
  }
  const bool left_elided = form->left_elided;
  const std::string& input_spec = form->input;
  const std::string& weight_spec = form->weight;
  const std::string& output_spec = form->output;
  const int64_t rank = static_cast<int64_t>(input_shape.size());
  const int64_t elided = rank - static_cast<int64_t>(input_spec.size());
  Shape output(partial_output.begin(), partial_output.end());
  output.insert(output.begin(), input_shape.at(0));
  if (elided > 0 && left_elided) {
    for (int64_t i = 1; i < elided; ++i) output.insert(output.begin() + 1, input_shape[i]);
  } else if (elided > 0) {
    for (int64_t i = rank - elided; i < rank; ++i) output.push_back(input_shape[i]);
  }
  auto input_dim = [&](char c) -> int64_t {
    const auto i = static_cast<int64_t>(input_spec.find(c));
    return left_elided ? input_shape.at(i + elided) : input_shape.at(i);
  };
  auto output_index = [&](char c) -> size_t { return output_spec.find(c) + (left_elided ? elided : 0); };
  for (char c : input_spec) {
    if (output_spec.find(c) == std::string::npos) continue;
    const int64_t out = output.at(output_index(c));
    if (out != None && out != input_dim(c)) {
      throw ValueError(fmt::format("Input shape and output shape do not match at shared dimension '{}'. Input shape "
                                   "is {}, and output shape is {}.",
                                   c, input_dim(c), out));
    }
  }
  for (char c : output_spec) {
    if (input_spec.find(c) == std::string::npos && weight_spec.find(c) == std::string::npos) {
      throw ValueError(fmt::format("Dimension '{}' was specified in the output '{}' but has no corresponding dim in "
                                   "the input spec '{}' or weight spec '{}'",
                                   c, output_spec, input_spec, output_spec));
    }
  }
  Analysis a;
  for (size_t i = 0; i < weight_spec.size(); ++i) {
    const char c = weight_spec[i];
    if (output_spec.find(c) != std::string::npos) {
      a.kernel.push_back(output.at(output_index(c)));
      a.output_axes.push_back(i);
    } else if (input_spec.find(c) != std::string::npos) {
      a.kernel.push_back(input_dim(c));
      a.input_axes.push_back(i);
    } else {
      throw ValueError(fmt::format("Weight dimension '{}' did not have a match in either the input spec '{}' or the "
                                   "output spec '{}'. For this layer, the weight must be fully specified.",
                                   c, input_spec, output_spec));
    }
  }
  if (bias_axes) {
    size_t first = output_spec.size();
    for (char c : *bias_axes) {
      const size_t at = output_spec.find(c);
      if (at == std::string::npos) {
        throw ValueError(fmt::format("Bias dimension '{}' was requested, but is not part of the output spec '{}'", c,
                                     output_spec));
      }
      first = std::min(first, at);
    }
    a.has_bias = true;
    for (size_t i = first; i < output_spec.size(); ++i) {
      const char c = output_spec[i];
      a.bias.push_back(bias_axes->find(c) != std::string::npos ? output.at(output_index(c)) : 1);
    }
    if (!left_elided) {
      for (int64_t i = 0; i < elided; ++i) a.bias.push_back(1);
    }
  }
  a.output = output;
  return a;
}

}  // namespace

EinsumDense::EinsumDense(const EinsumDenseOptions& options)
    : LayerOf("EinsumDense", options.name, options.trainable, options.dtype), options_(options) {}

void EinsumDense::build_weights(const ShapeSpec& input_shape) {
  const Shape& shape = input_shape.shape();
  const Analysis a = analyze(options_.equation, options_.bias_axes, shape, options_.output_shape);
  for (int64_t d : a.kernel) {
    if (d == None) {
      throw ValueError(fmt::format("EinsumDense layer '{}': the kernel shape ({}) of equation '{}' has an unknown "
                                   "dimension for input shape {}; give it in output_shape.",
                                   name(), dims(a.kernel), options_.equation, shape_to_string(shape)));
    }
  }
  state_->kernel = add_weight("kernel", a.kernel, options_.kernel_initializer);
  // Keras gives the VarianceScaling initializers the kernel's input and output axes, so the fans
  // are the products over those axes (a (dim, heads, key_dim) kernel has fan_in dim, fan_out
  // heads * key_dim) and not the conv-style receptive-field fans of a rank-3 shape. A draw of
  // shape (fan_in, fan_out) has exactly those fans.
  int64_t fan_in = 1, fan_out = 1;
  for (size_t i : a.input_axes) fan_in *= a.kernel[i];
  for (size_t i : a.output_axes) fan_out *= a.kernel[i];
  if (a.kernel.size() != 2 && fan_in * fan_out == state_->kernel.value().size()) {
    state_->kernel.assign(options_.kernel_initializer({fan_in, fan_out}).reshape(a.kernel));
  }
  if (a.has_bias) state_->bias = add_weight("bias", a.bias, options_.bias_initializer);
  set_input_spec({.ndim = static_cast<int64_t>(shape.size())});
}

namespace {

// The projection forms "P C, C Y -> P Y" (P the input's kept letters, optionally after a leading
// "...", C the contracted ones, Y the kernel's output letters) with a bias over exactly Y (all of
// Keras's MultiHeadAttention projections): x (..., C) @ kernel (C, Y) + bias (Y) as one biased
// product, ops::matmul_bias. Undefined for any other equation or bias layout.
Tensor biased_projection(const std::string& equation, const Tensor& x, const Tensor& kernel, const Tensor& bias) {
  const size_t comma = equation.find(','), arrow = equation.find("->");
  if (comma == std::string::npos || arrow == std::string::npos || arrow < comma) return Tensor();
  std::string in = equation.substr(0, comma), k = equation.substr(comma + 1, arrow - comma - 1),
              out = equation.substr(arrow + 2);
  const bool elided = in.rfind("...", 0) == 0 && out.rfind("...", 0) == 0;
  if (elided) {
    in.erase(0, 3);
    out.erase(0, 3);
  }
  if (in.find('.') != std::string::npos || out.find('.') != std::string::npos || k.find('.') != std::string::npos) {
    return Tensor();
  }
  std::string contracted, produced;
  for (char c : k) (out.find(c) == std::string::npos ? contracted : produced) += c;
  if (contracted.empty() || produced.empty() || k != contracted + produced || in.size() < contracted.size() ||
      in.substr(in.size() - contracted.size()) != contracted) {
    return Tensor();
  }
  const std::string kept = in.substr(0, in.size() - contracted.size());
  if (out != kept + produced || kept.find_first_of(k) != std::string::npos) return Tensor();
  const Shape kernel_out(kernel.shape().begin() + static_cast<std::ptrdiff_t>(contracted.size()), kernel.shape().end());
  if (bias.shape() != kernel_out) return Tensor();
  const auto rank = static_cast<size_t>(x.ndim());
  if (rank < contracted.size() || (!elided && rank != in.size())) return Tensor();
  int64_t inner = 1, width = 1;
  for (size_t i = 0; i < contracted.size(); ++i) inner *= kernel.dim(static_cast<int64_t>(i));
  for (int64_t d : kernel_out) width *= d;
  Shape rows(x.shape().begin(), x.shape().end() - static_cast<std::ptrdiff_t>(contracted.size()));
  Shape x_shape = rows, y_shape = rows;
  x_shape.push_back(inner);
  y_shape.insert(y_shape.end(), kernel_out.begin(), kernel_out.end());
  const Tensor y =
      ops::matmul_bias(ops::reshape(x, x_shape), ops::reshape(kernel, {inner, width}), ops::reshape(bias, {width}));
  return ops::reshape(y, y_shape);
}

}  // namespace

std::vector<Tensor> EinsumDense::call(const CallArgs& args, const CallContext& /*ctx*/) {
  const Tensor& x = args.input();
  Tensor y;
  if (state_->bias.defined() && x.is_concrete()) {
    y = biased_projection(options_.equation, x, state_->kernel.value(), state_->bias.value());
  }
  if (!y.defined()) {
    y = einsum(options_.equation, x, state_->kernel.value());
    if (state_->bias.defined()) y = ops::add(y, state_->bias.value());
  }
  return {options_.activation(y)};
}

ShapeSpec EinsumDense::compute_output_shape(const ShapeSpec& input_shape) {
  return ShapeSpec(analyze(options_.equation, options_.bias_axes, input_shape.shape(), options_.output_shape).output);
}

std::vector<Tensor> EinsumDense::compute_output_spec(const CallArgs& args, const CallContext& /*ctx*/) {
  return {Tensor::symbolic(compute_output_shape(ShapeSpec(args.input().shape())).shape())};
}

json EinsumDense::get_config() const {
  json config = Layer::get_config();
  json shape = json::array();
  for (int64_t d : options_.output_shape) shape.push_back(d == None ? json(nullptr) : json(d));
  config["output_shape"] = shape;
  config["equation"] = options_.equation;
  config["activation"] = activations::serialize(options_.activation);
  config["bias_axes"] = options_.bias_axes ? json(*options_.bias_axes) : json(nullptr);
  config["kernel_initializer"] = options_.kernel_initializer.serialize();
  config["bias_initializer"] = options_.bias_initializer.serialize();
  config["kernel_regularizer"] = nullptr;
  config["bias_regularizer"] = nullptr;
  config["activity_regularizer"] = nullptr;
  config["kernel_constraint"] = nullptr;
  config["bias_constraint"] = nullptr;
  config["quantization_config"] = nullptr;
  return config;
}

EinsumDense EinsumDense::from_config(const json& config) {
  ConfigReader r(config, "EinsumDense");
  r.reject_non_null({"kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
                     "bias_constraint", "quantization_config", "lora_rank", "lora_alpha",
                     "gptq_unpacked_column_size"});
  EinsumDenseOptions o;
  o.equation = r.required<std::string>("equation");
  const json& shape = r.at("output_shape");
  if (shape.is_number_integer()) {
    o.output_shape = {shape.get<int64_t>()};
  } else if (shape.is_array()) {
    for (const json& d : shape) o.output_shape.push_back(d.is_null() ? None : r.integer_value("output_shape", d));
  } else {
    throw ValueError(fmt::format("EinsumDense config: 'output_shape' must be an integer or a list; received {}.",
                                 shape.dump()));
  }
  o.activation = activations::from_config(r, "activation");
  o.bias_axes = r.maybe<std::string>("bias_axes");
  if (r.has("kernel_initializer")) o.kernel_initializer = Initializer::deserialize(r.at("kernel_initializer"));
  if (r.has("bias_initializer")) o.bias_initializer = Initializer::deserialize(r.at("bias_initializer"));
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return EinsumDense(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(EinsumDense);

}  // namespace minidl::layers

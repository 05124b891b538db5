#include "minidl/layers/layer_normalization.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "minidl/autograd/ops.h"
#include "minidl/core/error.h"
#include "minidl/core/config_reader.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {
namespace {

// Keras's backend_utils.canonicalize_axes (ValueError with its text for out-of-range axes).
std::vector<int64_t> canonicalize_axes(const std::vector<int64_t>& axes, int64_t ndim) {
  std::vector<int64_t> out;
  for (int64_t a : axes) {
    if (a < -ndim || a >= ndim) {
      throw ValueError(fmt::format("axis {} is out of bounds for an array with dimension {}.", a, ndim));
    }
    out.push_back(a < 0 ? a + ndim : a);
  }
  return out;
}

}  // namespace

std::string NormalizationAxis::to_string() const {
  if (!is_list) return std::to_string(axes.at(0));
  std::string out = "[";
  for (size_t i = 0; i < axes.size(); ++i) out += (i > 0 ? ", " : "") + std::to_string(axes[i]);
  return out + "]";
}

LayerNormalization::LayerNormalization(const LayerNormalizationOptions& options)
    : LayerOf("LayerNormalization", options.name, options.trainable, options.dtype),
      options_(options) {
  state_->axis = options.axis;
  set_activity_regularizer(options.activity_regularizer);
  if (options.axis.axes.empty()) {
    // Keras would normalise over no axis at all (the output is beta); minidl's reductions read an
    // empty axis list as "every axis", so an empty list is refused instead.
    throw ValueError("LayerNormalization needs at least one axis to normalise over; received axis=[].");
  }
}

void LayerNormalization::build_weights(const ShapeSpec& input_shape) {
  const Shape& shape = input_shape.shape();
  const auto ndim = static_cast<int64_t>(shape.size());
  const std::vector<int64_t> canonical = canonicalize_axes(state_->axis.axes, ndim);
  if (std::set<int64_t>(canonical.begin(), canonical.end()).size() != canonical.size()) {
    throw ValueError("Duplicate axes are not allowed. Received: axis=" + state_->axis.to_string());
  }
  // Keras 3.15's build sorts the axes as given (negative ones stay negative: axis=-1 becomes
  // [-1], and [0, -1] becomes [-1, 0]) and sizes gamma and beta in that order; the config
  // writes that list.
  std::vector<int64_t> axes = state_->axis.axes;
  std::sort(axes.begin(), axes.end());
  Shape param_shape;
  for (int64_t a : axes) param_shape.push_back(shape[static_cast<size_t>(a < 0 ? a + ndim : a)]);
  // Keras's creation order: gamma, then beta.
  if (options_.scale || options_.rms_scaling) {
    state_->gamma = add_weight("gamma", param_shape,
                               {.initializer = options_.gamma_initializer,
                                .regularizer = options_.gamma_regularizer,
                                .constraint = options_.gamma_constraint});
  }
  if (options_.center && !options_.rms_scaling) {
    state_->beta = add_weight("beta", param_shape,
                              {.initializer = options_.beta_initializer,
                               .regularizer = options_.beta_regularizer,
                               .constraint = options_.beta_constraint});
  }
  state_->axis = NormalizationAxis(axes);
}

ShapeSpec LayerNormalization::compute_output_shape(const ShapeSpec& input_shape) {
  canonicalize_axes(state_->axis.axes, static_cast<int64_t>(input_shape.shape().size()));
  return input_shape;
}

std::vector<Tensor> LayerNormalization::call(const CallArgs& args, const CallContext& /*ctx*/) {
  const Tensor x = args.input();
  const int64_t ndim = x.ndim();
  const std::vector<int64_t> axes = canonicalize_axes(state_->axis.axes, ndim);
  // gamma and beta have the shape of the normalised axes (in the order build sorted them);
  // reshaped, not transposed, to broadcast against x, as Keras's ops.layer_normalization does.
  Shape broadcast_shape(static_cast<size_t>(ndim), 1);
  for (int64_t a : axes) broadcast_shape[static_cast<size_t>(a)] = x.shape()[static_cast<size_t>(a)];
  auto broadcast = [&](const Variable& v) {
    return axes == std::vector<int64_t>{ndim - 1} ? v.value() : ops::reshape(v.value(), broadcast_shape);
  };
  const Tensor mean = ops::mean(x, axes, /*keepdims=*/true);
  const Tensor variance = ops::mean(ops::square(ops::subtract(x, mean)), axes, /*keepdims=*/true);
  const auto epsilon = static_cast<float>(options_.epsilon);
  Tensor inv = ops::power(ops::add(variance, epsilon), -0.5f);  // rsqrt(variance + epsilon)
  if (options_.rms_scaling) {
    Tensor out = ops::multiply(x, inv);
    if (state_->gamma.defined()) out = ops::multiply(out, broadcast(state_->gamma));
    return {out};
  }
  // Keras's ops.layer_normalization: x * inv + (beta - mean * inv), inv = rsqrt(var + eps) * gamma.
  if (state_->gamma.defined()) inv = ops::multiply(inv, broadcast(state_->gamma));
  Tensor res = ops::negative(ops::multiply(mean, inv));
  if (state_->beta.defined()) res = ops::add(res, broadcast(state_->beta));
  return {ops::add(ops::multiply(x, inv), res)};
}

json LayerNormalization::get_config() const {
  json config = Layer::get_config();
  config["axis"] = state_->axis.to_json();
  config["epsilon"] = options_.epsilon;
  config["center"] = options_.center;
  config["scale"] = options_.scale;
  config["rms_scaling"] = options_.rms_scaling;
  config["beta_initializer"] = options_.beta_initializer.serialize();
  config["gamma_initializer"] = options_.gamma_initializer.serialize();
  config["beta_regularizer"] = options_.beta_regularizer.serialize();
  config["gamma_regularizer"] = options_.gamma_regularizer.serialize();
  config["beta_constraint"] = options_.beta_constraint.serialize();
  config["gamma_constraint"] = options_.gamma_constraint.serialize();
  return config;
}

LayerNormalization LayerNormalization::from_config(const json& config) {
  ConfigReader r(config, "LayerNormalization");
  LayerNormalizationOptions o;
  if (r.has("axis")) {
    const json& axis = r.at("axis");
    auto bad = [&] {
      return TypeError("Expected an int or a list/tuple of ints for the argument 'axis', but received: " + axis.dump());
    };
    if (axis.is_number_integer()) {
      o.axis = axis.get<int64_t>();
    } else if (axis.is_array()) {
      std::vector<int64_t> axes;
      for (const json& a : axis) {
        if (!a.is_number_integer()) throw bad();
        axes.push_back(a.get<int64_t>());
      }
      o.axis = NormalizationAxis(axes);
    } else {
      throw bad();
    }
  }
  o.epsilon = r.optional<double>("epsilon", 1e-3);
  o.center = r.optional<bool>("center", true);
  o.scale = r.optional<bool>("scale", true);
  o.rms_scaling = r.optional<bool>("rms_scaling", false);
  if (r.has("beta_initializer")) o.beta_initializer = Initializer::deserialize(r.at("beta_initializer"));
  if (r.has("gamma_initializer")) o.gamma_initializer = Initializer::deserialize(r.at("gamma_initializer"));
  o.beta_regularizer = RegularizerArg::from_config(r, "beta_regularizer");
  o.gamma_regularizer = RegularizerArg::from_config(r, "gamma_regularizer");
  o.activity_regularizer = RegularizerArg::from_config(r, "activity_regularizer");
  o.beta_constraint = ConstraintArg::from_config(r, "beta_constraint");
  o.gamma_constraint = ConstraintArg::from_config(r, "gamma_constraint");
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return LayerNormalization(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(LayerNormalization);

}  // namespace minidl::layers

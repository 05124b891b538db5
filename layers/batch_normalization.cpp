#include "minidl/layers/batch_normalization.h"

#include <fmt/format.h>

#include "minidl/autograd/ops.h"
#include "minidl/core/compute.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {
namespace {

// Keras's compute_output_shape check (its text), giving the axis as a non-negative index.
int64_t checked_axis(int64_t axis, const Shape& shape) {
  const auto ndim = static_cast<int64_t>(shape.size());
  if (axis >= ndim || axis < -ndim) {
    throw ValueError(fmt::format("Axis {} is out of bounds for input shape {}. Received: axis={}", axis,
                                 shape_to_string(shape), axis));
  }
  return axis < 0 ? axis + ndim : axis;
}

// Keras's _moments with a mask: the mean and biased variance over the unmasked entries (the
// mask broadcast along the last axis), as (channels,) tensors, in differentiable ops.
ops::BatchStatistics masked_moments(const Tensor& x, const Tensor& mask, int64_t axis) {
  std::vector<int64_t> reduction;
  for (int64_t i = 0; i < x.ndim(); ++i) {
    if (i != axis) reduction.push_back(i);
  }
  const Tensor keep = ops::cast(ops::broadcast_to(ops::expand_dims(mask, -1), x.shape()), DType::bool_);
  const Tensor weights = ops::add(ops::sum(ops::cast(keep, DType::float32), reduction, true), 1e-7f);  // + backend.epsilon()
  const Tensor mean = ops::divide(ops::sum(ops::where(keep, x, Tensor::scalar(0.0f)), reduction, true), weights);
  const Tensor difference = ops::where(keep, ops::subtract(x, mean), Tensor::scalar(0.0f));
  const Tensor variance = ops::divide(ops::sum(ops::square(difference), reduction, true), weights);
  const Shape channels = {x.shape()[static_cast<size_t>(axis)]};
  return {ops::reshape(mean, channels), ops::reshape(variance, channels)};
}

}  // namespace

BatchNormalization::BatchNormalization(const BatchNormalizationOptions& options)
    : LayerOf("BatchNormalization", options.name, options.trainable, options.dtype), options_(options) {
  set_activity_regularizer(options.activity_regularizer);
}

void BatchNormalization::build_weights(const ShapeSpec& input_shape) {
  const Shape& shape = input_shape.shape();
  const int64_t axis = checked_axis(options_.axis, shape);
  const Shape param_shape = {shape[static_cast<size_t>(axis)]};
  // Keras's creation order, which is also get_weights' and the weights file's.
  if (options_.scale) {
    state_->gamma = add_weight("gamma", param_shape,
                               {.initializer = options_.gamma_initializer,
                                .regularizer = options_.gamma_regularizer,
                                .constraint = options_.gamma_constraint});
  }
  if (options_.center) {
    state_->beta = add_weight("beta", param_shape,
                              {.initializer = options_.beta_initializer,
                               .regularizer = options_.beta_regularizer,
                               .constraint = options_.beta_constraint});
  }
  state_->moving_mean = add_weight("moving_mean", param_shape, options_.moving_mean_initializer, /*trainable=*/false);
  state_->moving_variance =
      add_weight("moving_variance", param_shape, options_.moving_variance_initializer, /*trainable=*/false);
  set_input_spec({.ndim = static_cast<int64_t>(shape.size()), .axes = {{axis, shape[static_cast<size_t>(axis)]}}});
}

ShapeSpec BatchNormalization::compute_output_shape(const ShapeSpec& input_shape) {
  checked_axis(options_.axis, input_shape.shape());
  return input_shape;
}

std::vector<Tensor> BatchNormalization::call(const CallArgs& args, const CallContext& ctx) {
  const Tensor x = args.input();
  const Tensor mask = ctx.mask();
  if (mask.defined() && mask.ndim() != x.ndim() - 1) {
    throw ValueError(fmt::format("The mask provided should be one dimension less than the inputs. Received: "
                                 "mask.shape={}, inputs.shape={}",
                                 shape_to_string(mask.shape()), shape_to_string(x.shape())));
  }
  const int64_t axis = checked_axis(options_.axis, x.shape());
  const auto epsilon = static_cast<float>(options_.epsilon);
  const Tensor gamma = state_->gamma.defined() ? state_->gamma.value() : Tensor();
  const Tensor beta = state_->beta.defined() ? state_->beta.value() : Tensor();
  // Keras 3: a layer that is not trainable normalises with its moving statistics even in training.
  if (!ctx.training || !trainable()) {
    return {ops::batch_normalization(x, state_->moving_mean.value(), state_->moving_variance.value(), axis, beta,
                                     gamma, epsilon)};
  }
  Tensor y;
  ops::BatchStatistics batch;
  if (!mask.defined()) {
    const Shape channels = {x.shape()[static_cast<size_t>(axis)]};
    y = ops::fused_batch_normalization(x, gamma.defined() ? gamma : Tensor::ones(channels),
                                       beta.defined() ? beta : Tensor::zeros(channels), axis, epsilon, &batch);
  } else {
    batch = masked_moments(x, mask, axis);
    y = ops::batch_normalization(x, batch.mean, batch.variance, axis, beta, gamma, epsilon);
  }
  // A symbolic call (shape inference) has no statistics to move.
  if (!x.is_concrete()) return {y};
  // The moving statistics move in this (eager) call, as Keras's assign in call: Model::fit's
  // forward pass runs it once per step. Plain compute, outside any tape.
  const auto momentum = static_cast<float>(options_.momentum);
  const auto rest = static_cast<float>(1.0 - options_.momentum);
  auto moved = [&](const Variable& moving, const Tensor& value) {
    return compute::binary(compute::BinaryOp::add, compute::binary(compute::BinaryOp::mul, moving.value(), momentum),
                           compute::binary(compute::BinaryOp::mul, value, rest));
  };
  state_->moving_mean.assign(moved(state_->moving_mean, batch.mean));
  state_->moving_variance.assign(moved(state_->moving_variance, batch.variance));
  return {y};
}

json BatchNormalization::get_config() const {
  json config = Layer::get_config();
  config["axis"] = options_.axis;
  config["momentum"] = options_.momentum;
  config["epsilon"] = options_.epsilon;
  config["center"] = options_.center;
  config["scale"] = options_.scale;
  config["beta_initializer"] = options_.beta_initializer.serialize();
  config["gamma_initializer"] = options_.gamma_initializer.serialize();
  config["moving_mean_initializer"] = options_.moving_mean_initializer.serialize();
  config["moving_variance_initializer"] = options_.moving_variance_initializer.serialize();
  config["beta_regularizer"] = options_.beta_regularizer.serialize();
  config["gamma_regularizer"] = options_.gamma_regularizer.serialize();
  config["beta_constraint"] = options_.beta_constraint.serialize();
  config["gamma_constraint"] = options_.gamma_constraint.serialize();
  config["synchronized"] = false;
  config["renorm"] = false;
  config["renorm_clipping"] = nullptr;
  config["renorm_momentum"] = 0.99;
  return config;
}

BatchNormalization BatchNormalization::from_config(const json& config) {
  ConfigReader r(config, "BatchNormalization");
  r.reject_non_null({"renorm_clipping"});
  r.require_default("renorm", false);
  if (r.optional<bool>("synchronized", false)) {
    throw ValueError("Argument synchronized=True is only supported with the TensorFlow backend.");
  }
  r.ignore("renorm_momentum");  // only read with renorm
  BatchNormalizationOptions o;
  o.beta_regularizer = RegularizerArg::from_config(r, "beta_regularizer");
  o.gamma_regularizer = RegularizerArg::from_config(r, "gamma_regularizer");
  o.activity_regularizer = RegularizerArg::from_config(r, "activity_regularizer");
  o.beta_constraint = ConstraintArg::from_config(r, "beta_constraint");
  o.gamma_constraint = ConstraintArg::from_config(r, "gamma_constraint");
  if (r.has("axis")) {
    const json& axis = r.at("axis");
    // Keras 3.15's __init__ runs int(axis): a list fails there.
    if (!axis.is_number_integer()) {
      throw TypeError("int() argument must be a string, a bytes-like object or a real number, not 'list'. "
                      "BatchNormalization takes one axis; received axis=" + axis.dump());
    }
    o.axis = axis.get<int64_t>();
  }
  o.momentum = r.optional<double>("momentum", 0.99);
  o.epsilon = r.optional<double>("epsilon", 1e-3);
  o.center = r.optional<bool>("center", true);
  o.scale = r.optional<bool>("scale", true);
  if (r.has("beta_initializer")) o.beta_initializer = Initializer::deserialize(r.at("beta_initializer"));
  if (r.has("gamma_initializer")) o.gamma_initializer = Initializer::deserialize(r.at("gamma_initializer"));
  if (r.has("moving_mean_initializer")) {
    o.moving_mean_initializer = Initializer::deserialize(r.at("moving_mean_initializer"));
  }
  if (r.has("moving_variance_initializer")) {
    o.moving_variance_initializer = Initializer::deserialize(r.at("moving_variance_initializer"));
  }
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return BatchNormalization(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(BatchNormalization);

}  // namespace minidl::layers

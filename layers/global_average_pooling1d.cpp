#include "minidl/layers/global_average_pooling1d.h"

#include "minidl/autograd/ops.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {

GlobalAveragePooling1D::GlobalAveragePooling1D(const GlobalAveragePooling1DOptions& options)
    : LayerOf("GlobalAveragePooling1D", options, 1) {}

std::vector<Tensor> GlobalAveragePooling1D::call(const CallArgs& args, const CallContext& ctx) {
  Tensor inputs = args.input();
  const bool channels_last = options_.data_format == "channels_last";
  const int64_t steps_axis = channels_last ? 1 : 2;
  const Tensor mask = ctx.mask();
  if (!mask.defined()) return {ops::mean(inputs, {steps_axis}, options_.keepdims)};
  // Keras: zero the masked steps, then divide the sum by the number of unmasked steps.
  const Tensor keep = ops::cast(ops::expand_dims(mask, channels_last ? 2 : 1), DType::bool_);
  inputs = ops::where(keep, inputs, Tensor::scalar(0.0f));
  const Tensor count = ops::sum(ops::cast(keep, DType::float32), {steps_axis}, options_.keepdims);
  return {ops::divide(ops::sum(inputs, {steps_axis}, options_.keepdims), count)};
}

Tensor GlobalAveragePooling1D::compute_mask(const CallArgs& /*args*/, const std::vector<Tensor>& /*masks*/) {
  return Tensor();
}

GlobalAveragePooling1D GlobalAveragePooling1D::from_config(const json& config) {
  return GlobalAveragePooling1D(options_from_config(config, "GlobalAveragePooling1D"));
}

MINIDL_REGISTER_BUILTIN_LAYER(GlobalAveragePooling1D);

}  // namespace minidl::layers

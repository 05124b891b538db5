#include "minidl/layers/masking.h"

#include "minidl/autograd/ops.h"
#include "minidl/core/config_reader.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {

Masking::Masking(const MaskingOptions& options)
    : LayerOf("Masking", options.name, options.trainable, options.dtype), options_(options) {
  build_at_init();
}

Tensor Masking::keep(const Tensor& x) const {
  const Tensor differs = ops::cast(ops::not_equal(x, Tensor::scalar(static_cast<float>(options_.mask_value))),
                                   DType::float32);
  return ops::cast(ops::max(differs, {-1}, /*keepdims=*/true), DType::bool_);
}

std::vector<Tensor> Masking::call(const CallArgs& args, const CallContext& /*ctx*/) {
  const Tensor x = args.input();
  return {ops::where(keep(x), x, Tensor::scalar(0.0f))};
}

Tensor Masking::compute_mask(const CallArgs& args, const std::vector<Tensor>& /*masks*/) {
  const Tensor x = args.input();
  if (x.is_symbolic()) {
    Shape shape = x.shape();
    shape.pop_back();
    return Tensor::symbolic(shape, DType::bool_);
  }
  return ops::squeeze(keep(x), -1);
}

std::vector<Tensor> Masking::compute_output_spec(const CallArgs& args, const CallContext& /*ctx*/) {
  return {Tensor::symbolic(args.input().shape(), DType::float32)};
}

json Masking::get_config() const {
  json config = Layer::get_config();
  config["mask_value"] = options_.mask_value;
  return config;
}

Masking Masking::from_config(const json& config) {
  ConfigReader r(config, "Masking");
  MaskingOptions o;
  o.mask_value = r.optional<double>("mask_value", 0.0);
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return Masking(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(Masking);

}  // namespace minidl::layers

#include "minidl/layers/reshaping_base.h"

#include <fmt/format.h>

#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"

namespace minidl::layers {

std::vector<Tensor> ReshapingLayer::compute_output_spec(const CallArgs& args, const CallContext& /*ctx*/) {
  const Tensor x = args.input();
  return {Tensor::symbolic(compute_output_shape(ShapeSpec(x.shape())).shape(), x.dtype())};
}

void SidePair::check(const std::string& name) const {
  if (before >= 0 && after >= 0) return;
  const std::string received = symmetric ? std::to_string(before) : fmt::format("({}, {})", before, after);
  std::string bad = before < 0 ? std::to_string(before) : std::to_string(after);
  if (!symmetric && before < 0 && after < 0 && before != after) bad = fmt::format("{}, {}", before, after);
  throw ValueError(fmt::format("The `{}` argument must be a tuple of 2 integers. Received {}={}, including values {{{}}} "
                               "that do not satisfy `value >= 0`",
                               name, name, received, bad));
}

SidePair side_pair_from(const ConfigReader& r, const std::string& key, const json& value) {
  if (value.is_array()) {
    if (value.size() != 2) {
      throw ValueError(fmt::format("The `{}` argument must be a tuple of 2 integers. Received {}={}", key, key,
                                   value.dump()));
    }
    return SidePair(r.integer_value(key, value[0]), r.integer_value(key, value[1]));
  }
  return SidePair(r.integer_value(key, value));
}

SidePairs2D side_pairs_2d_from(const ConfigReader& r, const std::string& key, const json& value) {
  if (!value.is_array()) return SidePairs2D(r.integer_value(key, value));
  if (value.size() != 2) {
    throw ValueError(fmt::format("`{}` should have two elements. Received: {}={}.", key, key, value.dump()));
  }
  return SidePairs2D(side_pair_from(r, key, value[0]), side_pair_from(r, key, value[1]));
}

}  // namespace minidl::layers

#include "minidl/autograd/check_numerics.h"

#include <fmt/format.h>

#include <cmath>
#include <optional>
#include <string>

#include "minidl/core/error.h"

namespace minidl {
namespace {

struct BadValues {
  int64_t nan = 0, infinite = 0, first = -1;
};

// Nothing for symbolic or undefined tensors (shape inference, an absent gradient).
std::optional<BadValues> bad_values(const Tensor& t) {
  if (!t.is_concrete()) return std::nullopt;
  const float* values = t.data();
  const int64_t n = t.size();
  BadValues bad;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isfinite(values[i])) [[likely]] continue;
    if (bad.first < 0) bad.first = i;
    (std::isnan(values[i]) ? bad.nan : bad.infinite) += 1;
  }
  if (bad.first < 0) return std::nullopt;
  return bad;
}

std::string describe(const BadValues& bad, const Tensor& t) {
  return fmt::format("{} of {} values NaN, {} infinite; the first at index {}, shape {}", bad.nan, t.size(),
                     bad.infinite, bad.first, shape_to_string(t.shape()));
}

std::string_view kind(const BadValues& bad) { return bad.nan > 0 ? "NaN" : "an infinite value"; }

}  // namespace

namespace autograd::detail {

void check_op_outputs(std::string_view op, std::span<const Tensor> inputs, std::span<const Tensor> outputs) {
  for (size_t o = 0; o < outputs.size(); ++o) {
    const std::optional<BadValues> bad = bad_values(outputs[o]);
    if (!bad) continue;
    // Which input brought it, if one did: then the op only passed it on.
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (const std::optional<BadValues> in = bad_values(inputs[i])) {
        throw FloatingPointError(fmt::format(
            "op '{}' received {} in input {} ({}), a value no checked op produced: it came from the data or a "
            "weight (md::debug::check_numerics).",
            op, kind(*in), i, describe(*in, inputs[i])));
      }
    }
    throw FloatingPointError(fmt::format(
        "op '{}' produced {} in output {} ({}) from finite inputs (md::debug::check_numerics).", op, kind(*bad), o,
        describe(*bad, outputs[o])));
  }
}

void check_op_gradients(std::string_view op, std::span<const Tensor> gradients) {
  for (size_t i = 0; i < gradients.size(); ++i) {
    if (const std::optional<BadValues> bad = bad_values(gradients[i])) {
      throw FloatingPointError(fmt::format(
          "the gradient of op '{}' is {} for input {} ({}) (md::debug::check_numerics).", op, kind(*bad), i,
          describe(*bad, gradients[i])));
    }
  }
}

}  // namespace autograd::detail
}  // namespace minidl

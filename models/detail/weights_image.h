#pragma once
// Weights files as bytes in memory, for the model.weights.h5 member of a `.keras` archive. The
// same layout, checks and all-or-nothing loading as md::save_weights / md::load_weights
// (models/weights_h5.h); errors start with `error_prefix`, which names the archive.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "minidl/autograd/variable.h"
#include "minidl/layers/layer.h"

namespace minidl::detail {

// The bytes of a `.weights.h5` file for the layer (and /optimizer/vars when given).
std::string weights_file_image(const Layer& layer_or_model, const std::vector<Variable>* optimizer_variables,
                               const std::string& error_prefix);
// Loads such bytes into the layer (and the optimizer variables when given); on any error
// nothing is assigned.
void load_weights_file_image(Layer& layer_or_model, const std::string& image,
                             const std::vector<Variable>* optimizer_variables, const std::string& error_prefix);
// How many variables the bytes hold under /optimizer/vars; nullopt without that group.
std::optional<size_t> weights_file_image_optimizer_count(const std::string& image, const std::string& error_prefix);

}  // namespace minidl::detail

#pragma once
// Errors raised deep inside a model's config, re-raised with where they happened.
#include <string>

#include "minidl/core/error.h"

namespace minidl::detail {

// Rethrows `e` as the same md::Error subclass with `context` and ": " in front of its message:
//   "Layer 'conv' (Conv2D) of model 'net': Could not locate class 'Conv2D'. ..."
[[noreturn]] void rethrow_with_context(const Error& e, const std::string& context);

// "Layer 'conv' (Conv2D) of model 'net'", for the errors of one entry of a model's 'layers'.
std::string layer_context(const std::string& layer, const std::string& class_name, const std::string& model);

}  // namespace minidl::detail

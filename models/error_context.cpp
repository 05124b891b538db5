#include "minidl/models/detail/error_context.h"

#include <fmt/format.h>

namespace minidl::detail {

void rethrow_with_context(const Error& e, const std::string& context) {
  const std::string message = context + ": " + e.what();
  // Most derived first: ShapeError is a ValueError.
  if (dynamic_cast<const ShapeError*>(&e)) throw ShapeError(message);
  if (dynamic_cast<const ValueError*>(&e)) throw ValueError(message);
  if (dynamic_cast<const TypeError*>(&e)) throw TypeError(message);
  if (dynamic_cast<const IndexError*>(&e)) throw IndexError(message);
  if (dynamic_cast<const NotImplementedError*>(&e)) throw NotImplementedError(message);
  if (dynamic_cast<const AttributeError*>(&e)) throw AttributeError(message);
  if (dynamic_cast<const IOError*>(&e)) throw IOError(message);
  if (dynamic_cast<const MemoryError*>(&e)) throw MemoryError(message);
  throw Error(message);
}

std::string layer_context(const std::string& layer, const std::string& class_name, const std::string& model) {
  return fmt::format("Layer '{}' ({}) of model '{}'", layer, class_name, model);
}

}  // namespace minidl::detail

#include "minidl/core/dtype.h"

#include "minidl/core/error.h"

namespace minidl {

std::string dtype_name(DType dtype) {
  switch (dtype) {
    case DType::float32:
      return "float32";
    case DType::int32:
      return "int32";
    case DType::bool_:
      return "bool";
  }
  return "unknown";
}

DType dtype_from_name(const std::string& name) {
  if (name == "float32") return DType::float32;
  if (name == "int32" || name == "int64") return DType::int32;
  if (name == "bool") return DType::bool_;
  throw ValueError("Unsupported dtype '" + name + "': minidl supports float32, int32 and bool.");
}

}  // namespace minidl

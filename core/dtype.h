#pragma once
// Element types. minidl computes in float32; int32 and bool tensors (labels, indices, masks,
// comparison results) keep their values in the same float32 storage, exactly representable
// up to 2^24, and carry their dtype so that gradients and serialization can tell them apart.
//   md::dtype_name(md::DType::float32);   // "float32"
#include <string>

namespace minidl {

enum class DType { float32, int32, bool_ };

std::string dtype_name(DType dtype);

// "float32", "int32", "bool" (also "int64", read as int32). Throws ValueError otherwise.
DType dtype_from_name(const std::string& name);

inline bool is_floating(DType dtype) { return dtype == DType::float32; }

}  // namespace minidl

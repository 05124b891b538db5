#include "minidl/core/tensor.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "minidl/core/detail/buffer_cache_allocator.h"
#include "minidl/core/error.h"

namespace minidl {
namespace {

std::atomic<uint64_t> g_next_tensor_id{1};

std::shared_ptr<detail::TensorImpl> make_impl(const Shape& shape, DType dtype) {
  // From the per-thread buffer cache, not malloc: see core/detail/buffer_cache_allocator.h.
  auto impl = std::allocate_shared<detail::TensorImpl>(detail::BufferCacheAllocator<detail::TensorImpl>());
  impl->id = g_next_tensor_id.fetch_add(1, std::memory_order_relaxed);
  impl->shape = shape;
  impl->dtype = dtype;
  return impl;
}

void check_concrete_shape(const Shape& shape) {
  for (int64_t d : shape) {
    if (d < 0) {
      throw ShapeError("Cannot create a concrete tensor of shape " + shape_to_string(shape) +
                       ": every dimension must be known and non-negative.");
    }
  }
}

// A reshape target as the caller wrote it: "(4, -1)" (shape_to_string would print -1 as None).
std::string requested_shape_string(const Shape& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) out += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  return out + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  check_concrete_shape(shape);
  auto impl = make_impl(shape, dtype);
  impl->storage = std::allocate_shared<Storage>(detail::BufferCacheAllocator<Storage>(), shape_size(shape));
  return Tensor(std::move(impl));
}

Tensor Tensor::full(const Shape& shape, float value, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::fill_n(t.impl_->storage->data(), t.impl_->storage->size(), value);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) { return full(shape, 0.0f, dtype); }
Tensor Tensor::ones(const Shape& shape, DType dtype) { return full(shape, 1.0f, dtype); }
Tensor Tensor::scalar(float value, DType dtype) { return full({}, value, dtype); }

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape, DType dtype) {
  check_concrete_shape(shape);
  if (static_cast<int64_t>(values.size()) != shape_size(shape)) {
    throw ShapeError(fmt::format("Cannot make a tensor of shape {} ({} elements) from {} values.",
                                 shape_to_string(shape), shape_size(shape), values.size()));
  }
  Tensor t = empty(shape, dtype);
  std::copy(values.begin(), values.end(), t.impl_->storage->data());
  return t;
}

float Tensor::exact_float(int64_t value, size_t index) {
  constexpr int64_t kExact = int64_t{1} << 24;  // the largest run of integers a float holds exactly
  if (value > kExact || value < -kExact) {
    throw ValueError(fmt::format(
        "Tensor::from_vector: value {} at index {} cannot be held exactly: minidl stores every dtype as float32, "
        "which holds integers only up to 2^24 = 16777216 in magnitude.",
        value, index));
  }
  return static_cast<float>(value);
}

Tensor Tensor::arange(int64_t n, DType dtype) {
  Tensor t = empty({n}, dtype);
  float* p = t.impl_->storage->data();
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(i);
  return t;
}

Tensor Tensor::symbolic(const Shape& shape, DType dtype) {
  for (int64_t d : shape) {
    if (d < None) throw ShapeError("Invalid dimension in symbolic shape " + shape_to_string(shape) + ".");
  }
  return Tensor(make_impl(shape, dtype));
}

const detail::TensorImpl& Tensor::checked() const {
  if (!impl_) throw ValueError("The tensor is undefined (default-constructed): it holds no shape and no data.");
  return *impl_;
}

bool Tensor::is_symbolic() const { return impl_ != nullptr && impl_->storage == nullptr; }
const Shape& Tensor::shape() const { return checked().shape; }
int64_t Tensor::ndim() const { return static_cast<int64_t>(checked().shape.size()); }
int64_t Tensor::size() const { return shape_size(checked().shape); }
DType Tensor::dtype() const { return checked().dtype; }

int64_t Tensor::dim(int64_t axis) const { return checked().shape[normalize_axis(axis, ndim())]; }

const float* Tensor::data() const { return mutable_data(); }

float* Tensor::mutable_data() const {
  const auto& impl = checked();
  if (!impl.storage) {
    throw ValueError("This tensor is symbolic (shape " + shape_to_string(impl.shape) + ", dtype " +
                     dtype_name(impl.dtype) +
                     "): it is a placeholder for a shape and a dtype while a graph is traced, and has no "
                     "values. Call the model or layer on concrete tensors to get data.");
  }
  return impl.storage->data();
}

std::vector<float> Tensor::to_vector() const {
  const float* p = data();
  return std::vector<float>(p, p + size());
}

float Tensor::item() const {
  const float* p = data();
  if (size() != 1) {
    throw ValueError(fmt::format("item() needs a tensor with exactly one element; this one has shape {} ({} elements).",
                                 shape_to_string(shape()), size()));
  }
  return p[0];
}

Tensor Tensor::reshape(const Shape& new_shape) const {
  const auto& impl = checked();
  Shape resolved = new_shape;
  int infer_axis = -1;
  int64_t known = 1;
  for (size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1) {
      if (infer_axis >= 0) {
        throw ShapeError("Cannot reshape to " + requested_shape_string(new_shape) + ": only one dimension can be -1.");
      }
      infer_axis = static_cast<int>(i);
    } else if (resolved[i] < 0) {
      throw ShapeError("Cannot reshape to " + requested_shape_string(new_shape) + ": dimensions must be non-negative.");
    } else {
      known = multiply_sizes(known, resolved[i]);
    }
  }
  if (is_symbolic() && !is_fully_defined(impl.shape)) {
    return symbolic(resolved, impl.dtype);
  }
  const int64_t total = shape_size(impl.shape);
  if (infer_axis >= 0) {
    if (known == 0 || total % known != 0) {
      throw ShapeError(fmt::format("Cannot reshape a tensor of shape {} ({} elements) into shape {}.",
                                   shape_to_string(impl.shape), total, requested_shape_string(new_shape)));
    }
    resolved[infer_axis] = total / known;
  } else if (known != total) {
    throw ShapeError(fmt::format("Cannot reshape a tensor of shape {} ({} elements) into shape {} ({} elements).",
                                 shape_to_string(impl.shape), total, shape_to_string(new_shape), known));
  }
  auto view = make_impl(resolved, impl.dtype);
  view->storage = impl.storage;
  return Tensor(std::move(view));
}

Tensor Tensor::clone() const {
  const auto& impl = checked();
  if (!impl.storage) return symbolic(impl.shape, impl.dtype);
  Tensor copy = empty(impl.shape, impl.dtype);
  if (impl.storage->size() > 0) {
    std::memcpy(copy.impl_->storage->data(), impl.storage->data(), sizeof(float) * impl.storage->size());
  }
  return copy;
}

Tensor Tensor::astype(DType target) const {
  Tensor out = clone();
  out.impl_->dtype = target;
  if (out.is_symbolic() || target == DType::float32) return out;
  float* p = out.impl_->storage->data();
  const int64_t n = out.impl_->storage->size();
  for (int64_t i = 0; i < n; ++i) {
    p[i] = target == DType::bool_ ? (p[i] != 0.0f ? 1.0f : 0.0f) : std::trunc(p[i]);
  }
  return out;
}

uint64_t Tensor::id() const { return checked().id; }

Tensor Tensor::keras_mask() const { return impl_ && impl_->keras_mask ? Tensor(impl_->keras_mask) : Tensor(); }

void Tensor::set_keras_mask(const Tensor& mask) const {
  checked();
  impl_->keras_mask = mask.impl();
}

bool Tensor::same_storage(const Tensor& other) const {
  return impl_ && other.impl_ && impl_->storage && impl_->storage == other.impl_->storage;
}

uint64_t Tensor::storage_version() const {
  const auto& impl = checked();
  return impl.storage ? impl.storage->version() : 0;
}

// ---- printing ----------------------------------------------------------------------------

namespace {

constexpr int64_t kElideThreshold = 1000;  // NumPy's default print threshold
constexpr int64_t kEdgeItems = 3;

std::string format_value(float v, DType dtype) {
  if (dtype == DType::bool_) return v != 0.0f ? "true" : "false";
  if (dtype == DType::int32) return fmt::format("{}", static_cast<int64_t>(v));
  if (std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 1e7f) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{:.6g}", v);
}

void format_axis(std::string& out, const float* data, const Shape& shape, const std::vector<int64_t>& strides,
                 size_t axis, int64_t offset, bool elide, DType dtype) {
  if (axis == shape.size()) {
    out += format_value(data[offset], dtype);
    return;
  }
  out += "[";
  const int64_t n = shape[axis];
  const std::string separator = axis + 1 == shape.size() ? ", " : ",\n" + std::string(axis + 1, ' ');
  for (int64_t i = 0; i < n; ++i) {
    if (elide && n > 2 * kEdgeItems && i == kEdgeItems) {
      out += "...";
      out += separator;
      i = n - kEdgeItems - 1;
      continue;
    }
    format_axis(out, data, shape, strides, axis + 1, offset + i * strides[axis], elide, dtype);
    if (i + 1 < n) out += separator;
  }
  out += "]";
}

}  // namespace

std::string to_string(const Tensor& tensor) {
  if (!tensor.defined()) return "Tensor(undefined)";
  std::string out = "Tensor(shape=" + shape_to_string(tensor.shape()) + ", dtype=" + dtype_name(tensor.dtype());
  if (tensor.is_symbolic()) return out + ", symbolic)";
  // Matrices and higher start on their own line so that rows line up under each other.
  out += tensor.ndim() >= 2 ? ",\n" : ", ";
  std::string body;
  format_axis(body, tensor.data(), tensor.shape(), contiguous_strides(tensor.shape()), 0, 0,
              tensor.size() > kElideThreshold, tensor.dtype());
  out += body;
  out += ")";
  return out;
}

}  // namespace minidl

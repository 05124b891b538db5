#pragma once
// minidl::Tensor — a cheap value-semantics handle to an n-d, contiguous, row-major array of
// float32 storage. Copies share the storage (like a shared_ptr); clone() copies the data.
// A tensor is either concrete (has data) or symbolic (a shape with possibly unknown dims and
// a dtype, produced while tracing a graph), or undefined (default-constructed, Keras's None).
//
//   md::Tensor a = md::Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
//   md::Tensor b = a.reshape({3, 2});      // a view: same storage
//   fmt::print("{}\n", a);                 // Tensor(shape=(2, 3), dtype=float32, [[1, 2, 3], ...])
#include <fmt/format.h>

#include <concepts>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "minidl/core/dtype.h"
#include "minidl/core/shape.h"
#include "minidl/core/storage.h"

namespace minidl {

struct SymbolicHistory;  // graph bookkeeping of a symbolic tensor (core/operation.h)
// What autograd keeps on a tensor (autograd/detail/autograd_meta.h): defined there, carried
// here without being looked into, as PyTorch's TensorImpl carries its AutogradMeta.
struct AutogradMeta;

namespace detail {
struct TensorImpl {
  uint64_t id = 0;                   // unique per handle family; the tape keys on it
  Shape shape;
  DType dtype = DType::float32;
  std::shared_ptr<Storage> storage;  // null for symbolic tensors
  std::shared_ptr<SymbolicHistory> history;
  // The mask a layer attached (Keras's _keras_mask). Keras keeps it at backend level too
  // (keras.src.backend.common.masking), because layers and losses/metrics, which do not see
  // the layers, both read it.
  std::shared_ptr<TensorImpl> keras_mask;
  std::shared_ptr<AutogradMeta> autograd_meta;  // null unless autograd attached something
};
}  // namespace detail

class Tensor {
 public:
  // An undefined tensor: stands for Keras's None (no mask, no gradient).
  Tensor() = default;

  static Tensor empty(const Shape& shape, DType dtype = DType::float32);  // uninitialised
  static Tensor zeros(const Shape& shape, DType dtype = DType::float32);
  static Tensor ones(const Shape& shape, DType dtype = DType::float32);
  static Tensor full(const Shape& shape, float value, DType dtype = DType::float32);
  static Tensor scalar(float value, DType dtype = DType::float32);
  // Throws ShapeError when values.size() differs from the shape's element count.
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape,
                            DType dtype = DType::float32);
  // Integer data, e.g. token ids for an Embedding; int32 unless `dtype` says otherwise.
  //   std::vector<int> ids = {4, 2, 7, 0};
  //   md::Tensor t = md::Tensor::from_vector(ids, {2, 2});   // dtype int32
  // minidl holds every dtype in float32 storage, so each value must lie within +-2^24 (held
  // exactly); ValueError otherwise. (A braced list, from_vector({1, 2}, ...), is float data.)
  template <std::integral T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape, DType dtype = DType::int32) {
    std::vector<float> converted(values.size());
    for (size_t i = 0; i < values.size(); ++i) converted[i] = exact_float(static_cast<int64_t>(values[i]), i);
    return from_vector(converted, shape, dtype);
  }
  // 0, 1, ..., n-1 as a 1-D tensor.
  static Tensor arange(int64_t n, DType dtype = DType::float32);
  // A placeholder with a shape (None allowed) and a dtype but no values; see md::Input.
  static Tensor symbolic(const Shape& shape, DType dtype = DType::float32);

  bool defined() const { return impl_ != nullptr; }
  bool is_symbolic() const;
  bool is_concrete() const { return defined() && !is_symbolic(); }

  const Shape& shape() const;
  int64_t ndim() const;
  int64_t size() const;        // element count; throws for unknown dims
  int64_t dim(int64_t axis) const;  // negative axes count from the end
  DType dtype() const;

  // Read access to the elements (concrete tensors only; throws otherwise).
  const float* data() const;
  // Write access. Every handle sharing this storage sees the write.
  float* mutable_data() const;
  std::vector<float> to_vector() const;
  // The single value of a one-element tensor; throws ValueError otherwise.
  float item() const;

  // A view with a new shape and the same storage. One dimension may be -1 (inferred).
  Tensor reshape(const Shape& shape) const;
  // A deep copy of the data (concrete) or a fresh placeholder (symbolic).
  Tensor clone() const;
  // The same values with another dtype tag (a copy; int32 truncates toward zero, bool tests != 0).
  Tensor astype(DType dtype) const;

  // Identity: handles from copying share an id; reshape views and clones get new ones.
  uint64_t id() const;
  bool same_storage(const Tensor& other) const;
  uint64_t storage_version() const;

  // The mask a masking layer attached to this tensor (undefined when none), as Keras's
  // _keras_mask: Embedding(mask_zero) sets it and later layers read it.
  Tensor keras_mask() const;
  void set_keras_mask(const Tensor& mask) const;

  // Escape hatch for the layers above core (autograd, tracing).
  const std::shared_ptr<detail::TensorImpl>& impl() const { return impl_; }
  explicit Tensor(std::shared_ptr<detail::TensorImpl> impl) : impl_(std::move(impl)) {}

 private:
  const detail::TensorImpl& checked() const;
  // `value` as a float when that is exact (|value| <= 2^24), else ValueError naming `index`.
  static float exact_float(int64_t value, size_t index);
  std::shared_ptr<detail::TensorImpl> impl_;
};

// Human-readable text: "Tensor(shape=(3,), dtype=float32, [1, 2.5, 3])"; matrices and higher
// start on a new line, one row per line:
//   Tensor(shape=(2, 2), dtype=float32,
//   [[1, 2],
//    [3, 4]])
// Tensors of more than 1000 elements are elided NumPy-style (first and last three entries of
// each axis, "..." between).
std::string to_string(const Tensor& tensor);

}  // namespace minidl

template <>
struct fmt::formatter<minidl::Tensor> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const minidl::Tensor& tensor, FormatContext& ctx) const {
    const std::string text = minidl::to_string(tensor);
    return fmt::formatter<std::string_view>::format(text, ctx);
  }
};

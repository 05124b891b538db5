#pragma once
// Shapes, dimensions and axes. A Shape is a plain std::vector<int64_t>; minidl::None (-1)
// marks a dimension that is unknown until data arrives (symbolic tensors only).
//   md::Shape s = {md::None, 28, 28};
//   md::shape_to_string(s);                 // "(None, 28, 28)"
//   md::broadcast_shapes({2, 1, 4}, {3, 1}); // {2, 3, 4}
#include <cstdint>
#include <string>
#include <vector>

namespace minidl {

using Shape = std::vector<int64_t>;

// An unknown dimension, as Python's None in a Keras shape.
inline constexpr int64_t None = -1;

// Number of elements; 1 for a scalar shape (). Throws ValueError if a dimension is unknown or
// the count does not fit in int64 (a corrupt or hostile config, not a real tensor).
int64_t shape_size(const Shape& shape);

// a * b for non-negative sizes; ValueError instead of overflowing int64.
int64_t multiply_sizes(int64_t a, int64_t b);

// True when no dimension is None.
bool is_fully_defined(const Shape& shape);

// "(2, 3)", "(None, 8)", "()" and "(5,)": Python tuple notation, as Keras prints shapes.
std::string shape_to_string(const Shape& shape);

// The same notation for plain integers (strides, pool sizes), negative values printed as they
// are: "(2, -1)", "(3,)". Keras's error texts quote arguments this way.
std::string int_tuple_to_string(const std::vector<int64_t>& values);

// NumPy broadcasting of two shapes. Unknown dims broadcast like Keras: None against n gives n
// when n > 1, None otherwise. Throws ShapeError naming both shapes when they do not fit.
Shape broadcast_shapes(const Shape& a, const Shape& b);

// Maps axis in [-ndim, ndim) to [0, ndim). Throws IndexError naming the axis and the rank.
int normalize_axis(int64_t axis, int64_t ndim);

// Normalises a set of axes; empty means "all axes". Throws ValueError on repeats.
std::vector<int> normalize_axes(const std::vector<int64_t>& axes, int64_t ndim);

// Row-major strides, in elements.
std::vector<int64_t> contiguous_strides(const Shape& shape);

}  // namespace minidl

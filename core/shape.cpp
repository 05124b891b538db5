#include "minidl/core/shape.h"

#include <fmt/format.h>

#include <algorithm>

#include "minidl/core/error.h"

namespace minidl {

int64_t shape_size(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      throw ValueError(fmt::format("Cannot count the elements of shape {}: it has an unknown dimension.",
                                   shape_to_string(shape)));
    }
    n = multiply_sizes(n, d);
  }
  return n;
}

int64_t multiply_sizes(int64_t a, int64_t b) {
  int64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out)) {
    throw ValueError(fmt::format("A tensor of {} x {} elements is too large to count (more than 2^63).", a, b));
  }
  return out;
}

bool is_fully_defined(const Shape& shape) {
  return std::none_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; });
}

std::string shape_to_string(const Shape& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += shape[i] < 0 ? std::string("None") : std::to_string(shape[i]);
  }
  if (shape.size() == 1) out += ",";
  out += ")";
  return out;
}

std::string int_tuple_to_string(const std::vector<int64_t>& values) {
  std::string out = "(";
  for (size_t i = 0; i < values.size(); ++i) out += (i > 0 ? ", " : "") + std::to_string(values[i]);
  return out + (values.size() == 1 ? ",)" : ")");
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t ndim = std::max(a.size(), b.size());
  Shape out(ndim);
  for (size_t i = 0; i < ndim; ++i) {
    const int64_t da = i < ndim - a.size() ? 1 : a[i - (ndim - a.size())];
    const int64_t db = i < ndim - b.size() ? 1 : b[i - (ndim - b.size())];
    if (da == db) {
      out[i] = da;
    } else if (da == 1) {
      out[i] = db;
    } else if (db == 1) {
      out[i] = da;
    } else if (da == None) {
      out[i] = db;
    } else if (db == None) {
      out[i] = da;
    } else {
      throw ShapeError(fmt::format("Cannot broadcast shapes {} and {}: dimension {} is {} in one and {} in the other.",
                                   shape_to_string(a), shape_to_string(b), i, da, db));
    }
  }
  return out;
}

int normalize_axis(int64_t axis, int64_t ndim) {
  if (axis < -ndim || axis >= ndim) {
    throw IndexError(fmt::format("Axis {} is out of bounds for a tensor of rank {} (valid axes: {} to {}).", axis,
                                 ndim, -ndim, ndim - 1));
  }
  return static_cast<int>(axis < 0 ? axis + ndim : axis);
}

std::vector<int> normalize_axes(const std::vector<int64_t>& axes, int64_t ndim) {
  std::vector<int> out;
  if (axes.empty()) {
    for (int i = 0; i < ndim; ++i) out.push_back(i);
    return out;
  }
  for (int64_t axis : axes) {
    const int a = normalize_axis(axis, ndim);
    if (std::find(out.begin(), out.end(), a) != out.end()) {
      throw ValueError(fmt::format("Axis {} is repeated in the axes given.", axis));
    }
    out.push_back(a);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int64_t> contiguous_strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s = multiply_sizes(s, std::max<int64_t>(shape[i], 1));
  }
  return strides;
}

}  // namespace minidl

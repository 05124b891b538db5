#include "minidl/layers/shape_spec.h"

#include "minidl/core/error.h"

namespace minidl {

ShapeSpec ShapeSpec::list(std::vector<Shape> shapes) {
  ShapeSpec s;
  s.shapes_ = std::move(shapes);
  s.is_list_ = true;
  return s;
}

const Shape& ShapeSpec::shape() const {
  if (is_list_ || shapes_.size() != 1) {
    throw ValueError("Expected a single shape; received " + to_string() + ".");
  }
  return shapes_[0];
}

json shape_to_json(const Shape& shape) {
  json out = json::array();
  for (int64_t d : shape) out.push_back(d < 0 ? json(nullptr) : json(d));
  return out;
}

namespace {

Shape shape_from(const json& value) {
  Shape out;
  for (const auto& d : value) {
    if (d.is_null()) {
      out.push_back(None);
    } else if (d.is_number_integer()) {
      out.push_back(d.get<int64_t>());
    } else {
      throw TypeError("A shape dimension must be an integer or null; received " + d.dump() + ".");
    }
  }
  return out;
}

bool is_shape(const json& value) {
  if (!value.is_array()) return false;
  for (const auto& d : value) {
    if (!d.is_null() && !d.is_number_integer()) return false;
  }
  return true;
}

}  // namespace

json ShapeSpec::to_json() const {
  if (!is_list_) return shapes_.empty() ? json(nullptr) : shape_to_json(shapes_[0]);
  json out = json::array();
  for (const Shape& s : shapes_) out.push_back(shape_to_json(s));
  return out;
}

ShapeSpec ShapeSpec::from_json(const json& value) {
  if (value.is_null()) return ShapeSpec();
  if (is_shape(value)) return ShapeSpec(shape_from(value));
  if (!value.is_array()) throw TypeError("A shape must be a list of integers; received " + value.dump() + ".");
  std::vector<Shape> shapes;
  for (const auto& item : value) {
    if (!is_shape(item)) throw TypeError("A shape must be a list of integers; received " + item.dump() + ".");
    shapes.push_back(shape_from(item));
  }
  return list(std::move(shapes));
}

std::string ShapeSpec::to_string() const {
  if (!is_list_) return shapes_.empty() ? "None" : shape_to_string(shapes_[0]);
  std::string out = "[";
  for (size_t i = 0; i < shapes_.size(); ++i) {
    if (i > 0) out += ", ";
    out += shape_to_string(shapes_[i]);
  }
  return out + "]";
}

}  // namespace minidl

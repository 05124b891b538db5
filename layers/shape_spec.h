#pragma once
// One shape or a list of shapes: what Keras calls a layer's input_shape / output_shape.
//   layer.build({md::None, 784});                  // one input
//   attn.build({{2, 3, 4}, {2, 4, 4}});            // a list of inputs
#include <initializer_list>
#include <vector>

#include "minidl/core/json.h"
#include "minidl/core/shape.h"

namespace minidl {

// [null, 3, 4]: a shape as Keras writes it in configs (unknown dims as null).
json shape_to_json(const Shape& shape);

class ShapeSpec {
 public:
  ShapeSpec() = default;
  ShapeSpec(Shape shape) : shapes_{std::move(shape)} {}  // NOLINT: implicit, as Keras takes a tuple
  ShapeSpec(std::initializer_list<Shape> shapes) : shapes_(shapes), is_list_(true) {}
  static ShapeSpec list(std::vector<Shape> shapes);

  bool is_list() const { return is_list_; }
  // The single shape; throws ValueError for a list.
  const Shape& shape() const;
  const std::vector<Shape>& shapes() const { return shapes_; }
  size_t size() const { return shapes_.size(); }

  // [null, 3, 4] or [[null, 3, 4], [null, 4, 4]]; from_json reads both.
  json to_json() const;
  static ShapeSpec from_json(const json& value);
  std::string to_string() const;  // "(None, 3, 4)" or "[(None, 3, 4), (None, 4, 4)]"

  friend bool operator==(const ShapeSpec& a, const ShapeSpec& b) {
    return a.is_list_ == b.is_list_ && a.shapes_ == b.shapes_;
  }

 private:
  std::vector<Shape> shapes_;
  bool is_list_ = false;
};

}  // namespace minidl

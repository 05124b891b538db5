#pragma once
// Add: the element-wise sum of a list of inputs (Keras's Add), broadcasting as Keras's Merge.
//   md::layers::Add add;
//   md::Tensor y = add({a, b});            // or md::layers::Add()({a, b, c})
// Output mask: the OR of the input masks when every input has one, else none.
#include <string>

#include "minidl/layers/merge.h"

namespace minidl::layers {

struct AddOptions {
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class Add : public LayerOf<Add, Merge> {
 public:
  using Options = AddOptions;
  explicit Add(const AddOptions& options = {});
  static Add from_config(const json& config);

 protected:
  Tensor merge_function(const std::vector<Tensor>& inputs) override;
};

}  // namespace minidl::layers

#pragma once
// md::Registry — the ClassTable (core/class_table.h) of operations: layers, models and ops by
// Keras class name and module. Layers join it with MINIDL_REGISTER_LAYER, ops through their
// OpDef (autograd/op_def.h); md::deserialize and functional configs look classes up here.
//
//   std::shared_ptr<md::Operation> op = md::Registry::instance().create("Dense", config);
//
// Keras reuses class names across modules ("Add" is both a layer and an op): ops are entered as
// bare-name fallbacks, so a bare "Add" means the layer.
#include <optional>
#include <string>

#include "minidl/core/class_table.h"
#include "minidl/core/operation.h"

namespace minidl {

class Registry : public ClassTable<Operation> {
 public:
  static Registry& instance();

  // Keras's module of `class_name` ("keras.layers"), or "minidl" when unknown.
  std::string module_of(const std::string& class_name) const;
  // What serialization writes as registered_name: none for Keras's layers, "Custom>Name" for
  // user layers, the class name for ops and for unknown classes.
  std::optional<std::string> registered_name_of(const std::string& class_name) const;

 private:
  Registry();
};

}  // namespace minidl

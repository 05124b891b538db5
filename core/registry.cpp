#include "minidl/core/registry.h"

namespace minidl {

Registry::Registry()
    : ClassTable<Operation>("layer", "keras.layers", {},
                            "registered with MINIDL_REGISTER_LAYER(ClassName) (layers/registration.h)") {}

Registry& Registry::instance() {
  static Registry registry;
  return registry;
}

std::string Registry::module_of(const std::string& class_name) const {
  auto e = entry(class_name);
  return e ? e->module : std::string("minidl");
}

std::optional<std::string> Registry::registered_name_of(const std::string& class_name) const {
  auto e = entry(class_name);
  return e ? e->registered_name : std::optional<std::string>(class_name);
}

}  // namespace minidl

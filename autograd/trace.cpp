#include "minidl/autograd/trace.h"

#include "minidl/core/error.h"
#include "minidl/core/registry.h"

namespace minidl::ops {

void register_op(const std::string& class_name, const std::string& module, OpRunner runner) {
  Registry::instance().add({.class_name = class_name,
                            .module = module,
                            .registered_name = class_name,
                            .factory = [class_name, module, runner](const json& config) -> std::shared_ptr<Operation> {
                              // The saved name is kept so that graph references (keras_history)
                              // resolve.
                              json op_config = config;
                              std::string name;
                              if (op_config.contains("name") && op_config["name"].is_string()) {
                                name = op_config["name"].get<std::string>();
                              }
                              op_config.erase("name");
                              return std::make_shared<OpOperation>(class_name, module, op_config, runner, name);
                            },
                            .builtin = true,
                            .bare_name_fallback = true});
}

OpOperation::OpOperation(std::string class_name, std::string module, json config, OpRunner runner, std::string name)
    : Operation(std::move(class_name), std::move(name)), module_(std::move(module)), config_(std::move(config)),
      runner_(std::move(runner)) {}

std::vector<Tensor> OpOperation::run(const CallArgs& args) { return runner_(config_, args); }

json OpOperation::get_config() const {
  json out = {{"name", name()}};
  for (const auto& [key, value] : config_.items()) out[key] = value;
  return out;
}

std::vector<Tensor> trace_op(const std::string& class_name, const std::string& module, const json& config,
                             const CallArgs& args, std::vector<Tensor> specs) {
  if (symbolic::recording_disabled()) return specs;
  Registry::instance().create(class_name, config, module)->record_node(args, specs);
  return specs;
}

Tensor trace_op(const std::string& class_name, const std::string& module, const json& config, const CallArgs& args,
                Tensor spec) {
  return trace_op(class_name, module, config, args, std::vector<Tensor>{std::move(spec)})[0];
}

Tensor arg(const CallArgs& a, size_t i) {
  if (i >= a.args.size()) throw ValueError("Op call is missing positional argument " + std::to_string(i) + ".");
  const CallArg& v = a.args[i];
  if (v.kind == CallArg::Kind::value && v.literal.is_number()) return Tensor::scalar(v.literal.get<float>());
  return a.tensor_of(v);
}

std::vector<int64_t> axes_from(const json& value) {
  if (value.is_null()) return {};
  if (value.is_number_integer()) return {value.get<int64_t>()};
  return value.get<std::vector<int64_t>>();
}

json axes_to_json(const std::vector<int64_t>& axes) {
  if (axes.empty()) return nullptr;
  if (axes.size() == 1) return axes[0];
  return axes;
}

}  // namespace minidl::ops

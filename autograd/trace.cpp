#include "minidl/autograd/trace.h"

#include <map>
#include <mutex>

#include "minidl/core/error.h"
#include "minidl/core/registry.h"

namespace minidl::ops {
namespace {

struct OpEntry {
  std::string module;
  OpRunner runner;
};

std::mutex& table_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, OpEntry>& table() {
  static std::map<std::string, OpEntry> t;
  return t;
}

std::shared_ptr<Operation> make_op(const std::string& class_name, const json& config, const std::string& name = {}) {
  OpEntry entry;
  {
    std::lock_guard<std::mutex> lock(table_mutex());
    auto it = table().find(class_name);
    if (it == table().end()) throw ValueError("Unknown op class '" + class_name + "'.");
    entry = it->second;
  }
  return std::make_shared<OpOperation>(class_name, entry.module, config, entry.runner, name);
}

}  // namespace

void register_op(const std::string& class_name, const std::string& module, OpRunner runner) {
  {
    std::lock_guard<std::mutex> lock(table_mutex());
    table()[class_name] = {module, std::move(runner)};
  }
  Registry::instance().add(class_name, module, class_name, [class_name](const json& config) {
    // The saved name is kept so that graph references (keras_history) resolve.
    json op_config = config;
    std::string name;
    if (op_config.contains("name") && op_config["name"].is_string()) name = op_config["name"].get<std::string>();
    op_config.erase("name");
    return make_op(class_name, op_config, name);
  });
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

std::vector<Tensor> trace_op(const std::string& class_name, const json& config, const CallArgs& args,
                             std::vector<Tensor> specs) {
  if (symbolic::recording_disabled()) return specs;
  make_op(class_name, config)->record_node(args, specs);
  return specs;
}

Tensor trace_op(const std::string& class_name, const json& config, const CallArgs& args, Tensor spec) {
  return trace_op(class_name, config, args, std::vector<Tensor>{std::move(spec)})[0];
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

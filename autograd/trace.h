#pragma once
// How the built-in ops trace: an op called on a symbolic tensor records a graph node for an
// Operation named after the Keras op class ("Add", "Sum", "Softmax", ...) whose config holds the
// op's attributes, Keras style. md::Registry maps each class name back to the op, so a traced
// graph can be replayed on data and rebuilt from its JSON config. Ops are defined with OpDef
// (autograd/op_def.h), whose apply() and MINIDL_DEFINE_OP use what is declared here.
#include "minidl/core/json.h"

#include <functional>
#include <string>
#include <vector>

#include "minidl/core/call_args.h"
#include "minidl/core/operation.h"
#include "minidl/core/tensor.h"

namespace minidl::ops {

// How an op class runs on concrete (or symbolic) tensors, given its config and call args.
using OpRunner = std::function<std::vector<Tensor>(const json& config, const CallArgs& args)>;

// Enters an op class in md::Registry, so that traced graphs can be replayed on data and functional
// configs rebuilt.
void register_op(const std::string& class_name, const std::string& module, OpRunner runner);

// Records op `class_name` of `module` with `config` on `args`, returning `specs` as its symbolic
// outputs (inside shape inference, just the specs).
std::vector<Tensor> trace_op(const std::string& class_name, const std::string& module, const json& config,
                             const CallArgs& args, std::vector<Tensor> specs);
Tensor trace_op(const std::string& class_name, const std::string& module, const json& config, const CallArgs& args,
                Tensor spec);

// Positional argument i of an op call: a tensor, or a number as a scalar tensor (Keras
// records `x + 1.0` as Add with args [x, 1.0]).
Tensor arg(const CallArgs& a, size_t i);
// An integer axis list from a config value: null -> {}, an int -> {int}, a list -> the list.
std::vector<int64_t> axes_from(const json& value);
json axes_to_json(const std::vector<int64_t>& axes);

// The Keras modules the built-in op classes live in (a functional config names them).
inline constexpr const char* kNumpyModule = "keras.src.ops.numpy";
inline constexpr const char* kNnModule = "keras.src.ops.nn";

// The op behind a graph node: a Keras op class name, its config and how to run it.
class OpOperation : public Operation {
 public:
  // An empty name is generated from the class name ("add", "add_1", ...).
  OpOperation(std::string class_name, std::string module, json config, OpRunner runner, std::string name = {});
  std::string module() const override { return module_; }
  std::vector<Tensor> run(const CallArgs& args) override;
  json get_config() const override;

 private:
  std::string module_;
  json config_;
  OpRunner runner_;
};

}  // namespace minidl::ops

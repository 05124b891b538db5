#include "minidl/core/call_args.h"

#include <fmt/format.h>

#include <algorithm>

#include "minidl/core/error.h"

namespace minidl {

namespace {
constexpr const char* kKey = "__tensor__";

CallArg tensor_arg(size_t index) {
  CallArg a;
  a.kind = CallArg::Kind::tensor;
  a.index = index;
  return a;
}
}  // namespace

bool CallArgs::is_placeholder(const json& value) { return value.is_object() && value.contains(kKey); }

CallArgs CallArgs::of(const Tensor& x) {
  CallArgs a;
  a.args.push_back(a.ref(x));
  return a;
}

CallArgs CallArgs::of(const std::vector<Tensor>& xs) {
  CallArgs a;
  a.args.push_back(a.ref(xs));
  return a;
}

CallArgs CallArgs::positional(const std::vector<Tensor>& xs) {
  CallArgs a;
  a.args.reserve(xs.size());
  for (const Tensor& x : xs) a.args.push_back(a.ref(x));
  return a;
}

CallArg CallArgs::ref(const Tensor& t) {
  if (!t.defined()) return CallArg();
  tensors.push_back(t);
  return tensor_arg(tensors.size() - 1);
}

CallArg CallArgs::ref(const std::vector<Tensor>& ts) {
  CallArg a;
  a.kind = CallArg::Kind::tensor_list;
  a.indices.reserve(ts.size());
  for (const Tensor& t : ts) {
    if (t.defined()) {
      tensors.push_back(t);
      a.indices.push_back(tensors.size() - 1);
    } else {
      a.indices.push_back(CallArg::kNone);
    }
  }
  return a;
}

void CallArgs::set_kwarg(const std::string& key, CallArg value) {
  for (auto& [k, v] : kwargs) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  kwargs.emplace_back(key, std::move(value));
}

const CallArg* CallArgs::find_kwarg(const std::string& key) const {
  for (const auto& [k, v] : kwargs) {
    if (k == key) return &v;
  }
  return nullptr;
}

bool CallArgs::has_kwarg(const std::string& key) const {
  const CallArg* found = find_kwarg(key);
  return found != nullptr && !found->is_null();
}

Tensor CallArgs::tensor_of(const CallArg& arg) const {
  if (arg.is_null()) return Tensor();
  if (arg.kind != CallArg::Kind::tensor) {
    throw ValueError(fmt::format("Expected a tensor argument; received {}.", to_json(arg).dump()));
  }
  if (arg.index >= tensors.size()) throw ValueError(fmt::format("Tensor reference {} is out of range.", arg.index));
  return tensors[arg.index];
}

std::vector<Tensor> CallArgs::tensors_of(const CallArg& arg) const {
  if (arg.kind != CallArg::Kind::tensor_list) return {tensor_of(arg)};
  std::vector<Tensor> out;
  out.reserve(arg.indices.size());
  for (size_t i : arg.indices) {
    if (i == CallArg::kNone) {
      out.emplace_back();
    } else if (i >= tensors.size()) {
      throw ValueError(fmt::format("Tensor reference {} is out of range.", i));
    } else {
      out.push_back(tensors[i]);
    }
  }
  return out;
}

std::vector<Tensor> CallArgs::inputs() const {
  if (args.empty()) return {};
  return tensors_of(args[0]);
}

Tensor CallArgs::input() const {
  if (args.empty()) throw ValueError("The call has no input tensor.");
  if (args[0].kind == CallArg::Kind::tensor_list) {
    throw ValueError(fmt::format("Expected a single input tensor; received a list of {}.", args[0].indices.size()));
  }
  return tensor_of(args[0]);
}

bool CallArgs::input_is_list() const { return !args.empty() && args[0].kind == CallArg::Kind::tensor_list; }

std::vector<Tensor> CallArgs::kwarg_tensors(const std::string& key) const {
  const CallArg* found = find_kwarg(key);
  if (found == nullptr || found->is_null()) return {};
  return tensors_of(*found);
}

bool CallArgs::any_symbolic() const {
  return std::any_of(tensors.begin(), tensors.end(), [](const Tensor& t) { return t.is_symbolic(); });
}

CallArgs CallArgs::with_tensors(std::vector<Tensor> replacement) const {
  if (replacement.size() != tensors.size()) {
    throw ValueError(fmt::format("with_tensors: expected {} tensors, received {}.", tensors.size(), replacement.size()));
  }
  CallArgs out = *this;
  out.tensors = std::move(replacement);
  return out;
}

// ---- JSON ----------------------------------------------------------------------------------------

json CallArgs::to_json(const CallArg& arg) const {
  switch (arg.kind) {
    case CallArg::Kind::tensor:
      return json{{kKey, arg.index}};
    case CallArg::Kind::tensor_list: {
      json list = json::array();
      for (size_t i : arg.indices) list.push_back(i == CallArg::kNone ? json(nullptr) : json{{kKey, i}});
      return list;
    }
    case CallArg::Kind::value:
      break;
  }
  return arg.literal;
}

json CallArgs::args_json() const {
  json out = json::array();
  for (const CallArg& a : args) out.push_back(to_json(a));
  return out;
}

json CallArgs::kwargs_json() const {
  json out = json::object();
  for (const auto& [key, value] : kwargs) out[key] = to_json(value);
  return out;
}

Tensor CallArgs::tensor_at(const json& placeholder) const {
  if (placeholder.is_null()) return Tensor();
  if (!is_placeholder(placeholder)) {
    throw ValueError("Expected a tensor argument; received " + placeholder.dump() + ".");
  }
  const auto index = placeholder.at(kKey).get<size_t>();
  if (index >= tensors.size()) throw ValueError(fmt::format("Tensor reference {} is out of range.", index));
  return tensors[index];
}

CallArg CallArgs::from_json_value(const json& value) const {
  if (is_placeholder(value)) {
    tensor_at(value);  // checks the index
    return tensor_arg(value.at(kKey).get<size_t>());
  }
  // A list holding tensors, or only Nones: Keras writes mask=[None, None] as [null, null], and
  // it must read back as a list of two missing tensors, not as a plain value.
  const auto tensor_or_none = [](const json& v) { return is_placeholder(v) || v.is_null(); };
  if (value.is_array() && !value.empty() &&
      (std::any_of(value.begin(), value.end(), [](const json& v) { return is_placeholder(v); }) ||
       std::all_of(value.begin(), value.end(), tensor_or_none))) {
    CallArg a;
    a.kind = CallArg::Kind::tensor_list;
    for (const json& item : value) {
      if (item.is_null()) {
        a.indices.push_back(CallArg::kNone);
      } else if (is_placeholder(item)) {
        tensor_at(item);
        a.indices.push_back(item.at(kKey).get<size_t>());
      } else {
        throw ValueError("A list argument mixes tensors with other values: " + value.dump() + ".");
      }
    }
    return a;
  }
  return CallArg(value);
}

CallArgs CallArgs::from_json(const json& args_value, const json& kwargs_value, std::vector<Tensor> tensors) {
  CallArgs out;
  out.tensors = std::move(tensors);
  if (!args_value.is_null()) {
    if (!args_value.is_array()) throw ValueError("A call's args must be a list; received " + args_value.dump() + ".");
    for (const json& a : args_value) out.args.push_back(out.from_json_value(a));
  }
  if (!kwargs_value.is_null()) {
    if (!kwargs_value.is_object()) {
      throw ValueError("A call's kwargs must be an object; received " + kwargs_value.dump() + ".");
    }
    for (const auto& [key, value] : kwargs_value.items()) out.kwargs.emplace_back(key, out.from_json_value(value));
  }
  return out;
}

}  // namespace minidl

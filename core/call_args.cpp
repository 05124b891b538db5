#include "minidl/core/call_args.h"

#include <fmt/format.h>

#include "minidl/core/error.h"

namespace minidl {

namespace {
constexpr const char* kKey = "__tensor__";
}

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
  for (const Tensor& x : xs) a.args.push_back(a.ref(x));
  return a;
}

json CallArgs::ref(const Tensor& t) {
  if (!t.defined()) return nullptr;
  tensors.push_back(t);
  return json{{kKey, tensors.size() - 1}};
}

json CallArgs::ref(const std::vector<Tensor>& ts) {
  json list = json::array();
  for (const Tensor& t : ts) list.push_back(ref(t));
  return list;
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

std::vector<Tensor> CallArgs::tensors_in(const json& value) const {
  std::vector<Tensor> out;
  if (value.is_array()) {
    for (const auto& item : value) out.push_back(tensor_at(item));
  } else {
    out.push_back(tensor_at(value));
  }
  return out;
}

std::vector<Tensor> CallArgs::inputs() const {
  if (args.empty()) return {};
  return tensors_in(args[0]);
}

Tensor CallArgs::input() const {
  if (args.empty()) throw ValueError("The call has no input tensor.");
  if (args[0].is_array()) {
    throw ValueError(fmt::format("Expected a single input tensor; received a list of {}.", args[0].size()));
  }
  return tensor_at(args[0]);
}

bool CallArgs::input_is_list() const { return !args.empty() && args[0].is_array(); }

std::vector<Tensor> CallArgs::kwarg_tensors(const std::string& key) const {
  auto it = kwargs.find(key);
  if (it == kwargs.end() || it->is_null()) return {};
  return tensors_in(*it);
}

bool CallArgs::any_symbolic() const {
  for (const Tensor& t : tensors) {
    if (t.is_symbolic()) return true;
  }
  return false;
}

CallArgs CallArgs::with_tensors(std::vector<Tensor> replacement) const {
  if (replacement.size() != tensors.size()) {
    throw ValueError(fmt::format("with_tensors: expected {} tensors, received {}.", tensors.size(), replacement.size()));
  }
  CallArgs out = *this;
  out.tensors = std::move(replacement);
  return out;
}

}  // namespace minidl

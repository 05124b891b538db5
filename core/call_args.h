#pragma once
// The arguments of one call of an Operation, in the form the graph records and replays them:
// positional `args` and keyword `kwargs` as JSON in which every tensor is a placeholder
// {"__tensor__": i} into `tensors`. Layers read their inputs through the helpers.
//
//   md::CallArgs a = md::CallArgs::of({query, value});     // layer([query, value])
//   a.kwargs["use_causal_mask"] = true;
//   a.inputs();            // {query, value}
#include "minidl/core/json.h"

#include <string>
#include <vector>

#include "minidl/core/tensor.h"

namespace minidl {

class CallArgs {
 public:
  CallArgs() = default;
  static CallArgs of(const Tensor& x);                       // op(x)
  static CallArgs of(const std::vector<Tensor>& xs);         // op([a, b, ...]): one list argument
  static CallArgs positional(const std::vector<Tensor>& xs);  // op(a, b, ...): several arguments

  // A placeholder for `t` (registering it), or null for an undefined tensor.
  json ref(const Tensor& t);
  json ref(const std::vector<Tensor>& ts);

  json args = json::array();
  json kwargs = json::object();
  std::vector<Tensor> tensors;

  // The first positional argument as a list of tensors ({x} for op(x)); null entries are
  // undefined tensors.
  std::vector<Tensor> inputs() const;
  // The first positional argument when it is a single tensor; throws ValueError otherwise.
  Tensor input() const;
  bool input_is_list() const;
  // The tensors referenced by a JSON value (a placeholder, a list of them, or null).
  std::vector<Tensor> tensors_in(const json& value) const;
  Tensor tensor_at(const json& placeholder) const;
  // Keyword arguments holding tensors, e.g. kwarg_tensors("mask").
  std::vector<Tensor> kwarg_tensors(const std::string& key) const;
  template <class T>
  T kwarg(const std::string& key, T fallback) const {
    auto it = kwargs.find(key);
    return it == kwargs.end() || it->is_null() ? fallback : it->get<T>();
  }

  bool any_symbolic() const;
  // The same structure over other tensors (same count and order), e.g. concrete for symbolic.
  CallArgs with_tensors(std::vector<Tensor> replacement) const;

  static bool is_placeholder(const json& value);
};

}  // namespace minidl

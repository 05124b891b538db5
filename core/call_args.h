#pragma once
// The arguments of one call of an Operation, typed: positional `args` and keyword `kwargs`, each
// a tensor, a list of tensors, or a plain value (a number, a bool, a string, null), with the
// tensors themselves in `tensors`. An eager layer call builds one without touching JSON; the
// graph records it, and a functional config writes it, as Keras's JSON (to_json: every tensor a
// placeholder {"__tensor__": i}), which from_json reads back.
//
//   md::CallArgs a = md::CallArgs::of({query, value});     // layer([query, value])
//   a.set_kwarg("use_causal_mask", true);
//   a.inputs();            // {query, value}
//   a.kwarg<bool>("use_causal_mask", false);
#include "minidl/core/json.h"

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "minidl/core/tensor.h"

namespace minidl {

// One argument: a tensor (by index into CallArgs::tensors), a list of them, or a plain value.
struct CallArg {
  enum class Kind : unsigned char { tensor, tensor_list, value };
  // The index an undefined tensor has inside a list (Keras's None).
  static constexpr size_t kNone = static_cast<size_t>(-1);

  Kind kind = Kind::value;
  size_t index = kNone;         // Kind::tensor
  std::vector<size_t> indices;  // Kind::tensor_list
  json literal;                 // Kind::value (null by default)

  CallArg() = default;
  CallArg(json value) : literal(std::move(value)) {}  // NOLINT: implicit, so that set_kwarg("x", true) reads well
  CallArg(bool value) : literal(value) {}             // NOLINT
  bool is_null() const { return kind == Kind::value && literal.is_null(); }
};

class CallArgs {
 public:
  CallArgs() = default;
  static CallArgs of(const Tensor& x);                        // op(x)
  static CallArgs of(const std::vector<Tensor>& xs);          // op([a, b, ...]): one list argument
  static CallArgs positional(const std::vector<Tensor>& xs);  // op(a, b, ...): several arguments

  // An argument for `t` (registering it in `tensors`), or null for an undefined tensor.
  CallArg ref(const Tensor& t);
  CallArg ref(const std::vector<Tensor>& ts);

  std::vector<CallArg> args;
  std::vector<std::pair<std::string, CallArg>> kwargs;
  std::vector<Tensor> tensors;

  // Sets (or replaces) a keyword argument.
  void set_kwarg(const std::string& key, CallArg value);
  // The keyword argument `key`, or nullptr when absent.
  const CallArg* find_kwarg(const std::string& key) const;
  // Whether `key` is present and not null.
  bool has_kwarg(const std::string& key) const;

  // The first positional argument as a list of tensors ({x} for op(x)); undefined entries are
  // Keras's None.
  std::vector<Tensor> inputs() const;
  // The first positional argument when it is a single tensor; throws ValueError otherwise.
  Tensor input() const;
  bool input_is_list() const;
  // The tensors of an argument (a list, or one tensor as a list of one; {} for null).
  std::vector<Tensor> tensors_of(const CallArg& arg) const;
  // The tensor of a one-tensor argument (undefined for null); ValueError for other values.
  Tensor tensor_of(const CallArg& arg) const;
  // Keyword arguments holding tensors, e.g. kwarg_tensors("mask").
  std::vector<Tensor> kwarg_tensors(const std::string& key) const;
  // A keyword argument holding a plain value, or `fallback` when absent or null.
  template <class T>
  T kwarg(const std::string& key, T fallback) const {
    const CallArg* found = find_kwarg(key);
    if (found == nullptr || found->is_null() || found->kind != CallArg::Kind::value) return fallback;
    return found->literal.get<T>();
  }

  bool any_symbolic() const;
  // The same structure over other tensors (same count and order), e.g. concrete for symbolic.
  CallArgs with_tensors(std::vector<Tensor> replacement) const;

  // ---- Keras's JSON form (graph configs) ------------------------------------------------------
  // args as a JSON list and kwargs as a JSON object, each tensor a placeholder {"__tensor__": i}.
  json args_json() const;
  json kwargs_json() const;
  // The call from that form: placeholders index `tensors`. ValueError for a dangling one.
  static CallArgs from_json(const json& args, const json& kwargs, std::vector<Tensor> tensors);
  static bool is_placeholder(const json& value);
  // The tensor behind a placeholder (undefined for null).
  Tensor tensor_at(const json& placeholder) const;

 private:
  json to_json(const CallArg& arg) const;
  CallArg from_json_value(const json& value) const;
};

}  // namespace minidl

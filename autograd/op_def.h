#pragma once
// How an op is defined: everything about it in one place, run by one shared path.
//
// An OpDef holds an op's Keras class and module, its attributes (their config keys, defaults
// and, for the few Keras passes positionally, their argument position), the spec of its outputs
// for symbolic inputs, its eager forward, and its gradient rule. ops::apply(def, inputs, attrs)
// runs it: on symbolic inputs it records a graph node (config written from the attributes); on
// concrete ones it computes the forward and, when a tape watches an input, records the gradient
// rule with what the forward saved. MINIDL_DEFINE_OP(def) enters it in the op table, which
// rebuilds it from a functional config (attributes read back by the same field list) and
// replays graph nodes through the same apply().
//
//   struct ClipAttrs {
//     float x_min = 0.0f, x_max = 0.0f;
//     static constexpr auto fields() {
//       return std::tuple{op_attr("x_min", &ClipAttrs::x_min), op_attr("x_max", &ClipAttrs::x_max)};
//     }
//   };
//   constexpr OpDef<ClipAttrs> kClip{
//       .name = "Clip", .module = kNumpyModule, .spec = float_spec<ClipAttrs>,
//       .forward = [](OpInputs x, const ClipAttrs& a, OpSaved& saved) { ... return y; },
//       .backward = [](const OpGrad& g, const ClipAttrs& a) { ... return {dx}; }};
//   MINIDL_DEFINE_OP(kClip);
//   Tensor clip(const Tensor& x, float lo, float hi) { return apply(kClip, {x}, {.x_min = lo, .x_max = hi}); }
//
// docs/ARCHITECTURE.md has the recipe for adding an op.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "minidl/autograd/check_numerics.h"
#include "minidl/autograd/record.h"
#include "minidl/autograd/trace.h"
#include "minidl/core/dtype.h"
#include "minidl/core/error.h"
#include "minidl/core/json.h"
#include "minidl/core/shape.h"
#include "minidl/core/tensor.h"

namespace minidl::autograd::detail {
// autograd::record() with the saved tensors as a view, copied into the record (autograd/tape.cpp):
// apply()'s forward saves into an inline OpSaved, so no vector is built per call.
void record_saved_view(std::string_view op_name, std::span<const Tensor> inputs, std::span<const Tensor> outputs,
                       std::span<const Tensor> saved, BackwardFn backward);
}  // namespace minidl::autograd::detail

namespace minidl::ops {

// An op's input tensors: a view, so that an eager call allocates nothing but its result.
using OpInputs = std::span<const Tensor>;

// What a forward keeps for its gradient rule (handed back as OpGrad::saved): up to four
// tensors, held inline for the same reason.
class OpSaved {
 public:
  void push_back(const Tensor& t) {
    if (count_ == items_.size()) throw ValueError("An op saved more than four tensors for its gradient.");
    items_[count_++] = t;
  }
  std::span<const Tensor> view() const { return {items_.data(), count_}; }

 private:
  std::array<Tensor, 4> items_{};
  size_t count_ = 0;
};

// What a gradient rule sees: the tape's BackwardArgs (saved tensors, output gradients, which
// inputs need one, the inputs' shapes), with short names.
struct OpGrad {
  const autograd::BackwardArgs& args;
  const Tensor& grad(size_t output = 0) const { return args.grads[output]; }
  bool needs(size_t input) const { return args.needs(input); }
  const Tensor& saved(size_t i) const { return args.saved[i]; }
  const Shape& shape(size_t input) const { return args.input_shapes[input]; }
  size_t input_count() const { return args.input_shapes.size(); }
};

// An axis list as Keras writes it in configs: null (all axes), one integer, or a list.
struct Axes {
  std::vector<int64_t> values;
  bool operator==(const Axes&) const = default;
};

// One attribute: its config key and the member it fills (its default is the member's
// initializer, the only place it is written). Two modifiers:
//   .at_position(1)     Keras passes it as positional argument 1 (ops.power(x, 2): args [x, 2])
//   .only_when_set()    written to configs only when it differs from the default (a minidl
//                       extension Keras's class does not take, such as Matmul's transpose_a)
template <class Attrs, class T>
struct OpAttr {
  const char* key;
  T Attrs::*member;
  int position = -1;
  bool written_when_default = true;
  constexpr OpAttr at_position(int p) const { return {key, member, p, written_when_default}; }
  constexpr OpAttr only_when_set() const { return {key, member, position, false}; }
};
template <class Attrs, class T>
constexpr OpAttr<Attrs, T> op_attr(const char* key, T Attrs::*member) {
  return {key, member};
}

// For ops without attributes.
struct NoAttrs {
  static constexpr auto fields() { return std::tuple<>{}; }
};

// One op with one output (every op in md::ops but the fused attention, which has its own file).
template <class Attrs = NoAttrs>
struct OpDef {
  const char* name = nullptr;    // Keras's op class ("Tanh"): the graph node's class and the tape's record
  const char* module = nullptr;  // Keras's module (kNumpyModule, kNnModule, ...)
  bool list_input = false;       // called on one list of tensors (concatenate), not on positional ones
  // The output's spec (a symbolic tensor: shape with None dims, dtype) from the inputs' specs.
  Tensor (*spec)(OpInputs inputs, const Attrs& attrs) = nullptr;
  // The output on concrete inputs; pushes what backward needs onto `saved`.
  Tensor (*forward)(OpInputs inputs, const Attrs& attrs, OpSaved& saved) = nullptr;
  // One gradient per input (undefined where !g.needs(i)), written with differentiable ops so
  // that nested tapes differentiate it again; nullptr for ops without a gradient.
  std::vector<Tensor> (*backward)(const OpGrad& g, const Attrs& attrs) = nullptr;
};

// ---- attribute values <-> JSON --------------------------------------------------------------
namespace detail {

template <class T>
json attr_to_json(const T& value) {
  if constexpr (std::is_same_v<T, Axes>) {
    return axes_to_json(value.values);
  } else if constexpr (std::is_same_v<T, Shape>) {
    return json(value);  // as Keras writes shapes in op configs: -1 (Reshape's inferred dim) stays -1
  } else if constexpr (std::is_same_v<T, DType>) {
    return dtype_name(value);
  } else if constexpr (std::is_same_v<T, std::optional<int64_t>>) {
    return value ? json(*value) : json(nullptr);
  } else {
    return json(value);
  }
}

// What an attribute of type T must be, in ConfigReader's words.
template <class T>
const char* attr_expected() {
  if constexpr (std::is_same_v<T, Axes>) return "an axis, a list of axes or null";
  else if constexpr (std::is_same_v<T, Shape>) return "a list of integers";
  else if constexpr (std::is_same_v<T, DType>) return "a dtype name";
  else if constexpr (std::is_same_v<T, std::optional<int64_t>>) return "an integer or null";
  else if constexpr (std::is_same_v<T, bool>) return "a boolean";
  else if constexpr (std::is_integral_v<T>) return "an integer";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else return "a value of the attribute's type";
}

// The attribute from its JSON value, with ConfigReader's error ("Sum config key 'keepdims' must
// be a boolean; received \"yes\".") for a value of another type.
template <class T>
T attr_from_json(const json& value, const char* op, const char* key) {
  const auto mistyped = [&]() {
    return TypeError(fmt::format("{} config key '{}' must be {}; received {}.", op, key, attr_expected<T>(),
                                 value.dump()));
  };
  try {
    if constexpr (std::is_same_v<T, Axes>) {
      if (!value.is_null() && !value.is_number_integer() && !value.is_array()) throw mistyped();
      return Axes{axes_from(value)};
    } else if constexpr (std::is_same_v<T, Shape>) {
      if (value.is_number_integer()) return Shape{value.get<int64_t>()};  // reshape(x, 6)
      if (!value.is_array()) throw mistyped();
      Shape shape;
      for (const json& d : value) {
        if (!d.is_null() && !d.is_number_integer()) throw mistyped();
        shape.push_back(d.is_null() ? None : d.get<int64_t>());
      }
      return shape;
    } else if constexpr (std::is_same_v<T, DType>) {
      if (!value.is_string()) throw mistyped();
      return dtype_from_name(value.get<std::string>());
    } else if constexpr (std::is_same_v<T, std::optional<int64_t>>) {
      if (!value.is_null() && !value.is_number_integer()) throw mistyped();
      return value.is_null() ? std::nullopt : std::optional<int64_t>(value.get<int64_t>());
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!value.is_boolean()) throw mistyped();
      return value.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      if (!value.is_number_integer()) throw mistyped();
      return value.get<T>();
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!value.is_number()) throw mistyped();
      return value.get<T>();
    } else {
      return value.get<T>();
    }
  } catch (const json::exception&) {
    throw mistyped();
  }
}

}  // namespace detail

// The attributes that go into the config (those not passed positionally), with their keys.
template <class Attrs>
json attrs_to_config(const Attrs& attrs) {
  json config = json::object();
  const Attrs defaults{};
  auto write = [&](const auto& field) {
    if (field.position >= 0) return;
    if (!field.written_when_default && attrs.*field.member == defaults.*field.member) return;
    config[field.key] = detail::attr_to_json(attrs.*field.member);
  };
  std::apply([&](const auto&... field) { (write(field), ...); }, Attrs::fields());
  (void)write;  // no attributes: nothing written
  return config;
}

// Attributes from a node: config keys (absent or null keys keep the default), and positional
// arguments at their positions.
template <class Attrs>
Attrs attrs_from_call(const char* op, const json& config, const CallArgs& call) {
  Attrs attrs;
  auto read = [&](const auto& field) {
    using T = std::remove_reference_t<decltype(attrs.*field.member)>;
    if (field.position >= 0) {
      if (static_cast<size_t>(field.position) >= call.args.size()) {
        throw ValueError(std::string(op) + " call is missing positional argument " + std::to_string(field.position) +
                         " ('" + field.key + "').");
      }
      attrs.*field.member =
          detail::attr_from_json<T>(call.args[static_cast<size_t>(field.position)].literal, op, field.key);
    } else if (auto it = config.find(field.key); it != config.end()) {
      // null means "the default" except where null is a value of its own (all axes, no axis).
      constexpr bool null_is_value = std::is_same_v<T, Axes> || std::is_same_v<T, std::optional<int64_t>>;
      if (!it->is_null() || null_is_value) attrs.*field.member = detail::attr_from_json<T>(*it, op, field.key);
    }
  };
  std::apply([&](const auto&... field) { (read(field), ...); }, Attrs::fields());
  (void)read;  // no attributes: nothing read
  return attrs;
}

// Whether argument position `i` holds an attribute rather than an input tensor.
template <class Attrs>
bool is_attr_position(size_t i) {
  bool found = false;
  std::apply([&](const auto&... field) { ((found = found || field.position == static_cast<int>(i)), ...); },
             Attrs::fields());
  return found;
}

// ---- the shared path --------------------------------------------------------------------------

// Runs `def` on `inputs`: a graph node when any input is symbolic, else the forward, recorded
// on the tapes that watch an input.
template <class Attrs>
Tensor apply(const OpDef<Attrs>& def, OpInputs inputs, const Attrs& attrs = {}) {
  bool symbolic_call = false;
  for (const Tensor& x : inputs) symbolic_call = symbolic_call || x.is_symbolic();
  if (symbolic_call) {
    Tensor spec = def.spec(inputs, attrs);
    if (symbolic::recording_disabled()) return spec;
    const std::vector<Tensor> tensors(inputs.begin(), inputs.end());
    CallArgs call = def.list_input ? CallArgs::of(tensors) : CallArgs::positional(tensors);
    std::apply(
        [&](const auto&... field) {
          auto place = [&](const auto& f) {
            if (f.position < 0) return;
            const auto at = std::min(static_cast<size_t>(f.position), call.args.size());
            call.args.insert(call.args.begin() + static_cast<std::ptrdiff_t>(at),
                             CallArg(detail::attr_to_json(attrs.*f.member)));
          };
          (place(field), ...);
          (void)place;  // no attributes: nothing placed
        },
        Attrs::fields());
    return trace_op(def.name, def.module, attrs_to_config(attrs), call, std::move(spec));
  }
  OpSaved saved;
  Tensor output = def.forward(inputs, attrs, saved);
  if (debug::check_numerics_enabled()) [[unlikely]] autograd::detail::check_op_outputs(def.name, inputs, {&output, 1});
  if (def.backward != nullptr && autograd::should_record(inputs)) {
    // The closure holds a function pointer and the attributes: small enough for std::function
    // to keep inline when the attributes are.
    autograd::detail::record_saved_view(def.name, inputs, std::span<const Tensor>(&output, 1), saved.view(),
                                        [backward = def.backward, attrs](const autograd::BackwardArgs& g) {
                                          return backward(OpGrad{g}, attrs);
                                        });
  }
  return output;
}
template <class Attrs>
Tensor apply(const OpDef<Attrs>& def, std::initializer_list<Tensor> inputs, const Attrs& attrs = {}) {
  return apply(def, OpInputs(inputs.begin(), inputs.size()), attrs);
}

// Enters `def` in the op table: configs and graph replay rebuild its attributes from the node
// (attrs_from_call) and its inputs from the node's arguments (numbers become scalar tensors).
template <class Attrs>
bool define_op(const OpDef<Attrs>& def) {
  register_op(def.name, def.module, [&def](const json& config, const CallArgs& call) {
    const Attrs attrs = attrs_from_call<Attrs>(def.name, config, call);
    std::vector<Tensor> inputs;
    if (def.list_input) {
      inputs = call.inputs();
    } else {
      for (size_t i = 0; i < call.args.size(); ++i) {
        if (!is_attr_position<Attrs>(i)) inputs.push_back(arg(call, i));
      }
    }
    return std::vector<Tensor>{apply(def, OpInputs(inputs), attrs)};
  });
  return true;
}

// ---- common specs -----------------------------------------------------------------------------

// An output like the first input (shape and dtype).
template <class Attrs = NoAttrs>
Tensor same_spec(OpInputs x, const Attrs& /*attrs*/) {
  return Tensor::symbolic(x[0].shape(), x[0].dtype());
}
// A float32 output of the first input's shape.
template <class Attrs = NoAttrs>
Tensor float_spec(OpInputs x, const Attrs& /*attrs*/) {
  return Tensor::symbolic(x[0].shape(), DType::float32);
}

}  // namespace minidl::ops

// Defines `def` for configs and graph replay, once, at load time (in the op's .cpp file).
#define MINIDL_DEFINE_OP(def) \
  static const bool minidl_op_defined_##def = ::minidl::ops::define_op(def)

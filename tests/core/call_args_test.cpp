// md::CallArgs (core/call_args.h): the typed arguments of one call (tensors by index, lists of
// them, plain values), its accessors, and Keras's JSON form that graph configs write
// (args_json/kwargs_json, each tensor a {"__tensor__": i} placeholder) and read back (from_json).
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace md = minidl;

namespace call_args_test {

md::json parse(const char* text) { return md::json::parse(text); }

// The same tensor handles, in order (ids, not values).
bool same_handles(const std::vector<md::Tensor>& got, const std::vector<md::Tensor>& expected) {
  if (got.size() != expected.size()) return false;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].defined() != expected[i].defined()) return false;
    if (got[i].defined() && got[i].id() != expected[i].id()) return false;
  }
  return true;
}

}  // namespace call_args_test

using call_args_test::parse;
using call_args_test::same_handles;

TEST_CASE("CallArgs::of, positional and ref: what each call form holds", "[core][call_args]") {
  const md::Tensor a = md::Tensor::ones({2}), b = md::Tensor::zeros({3});

  SECTION("of(x): op(x), one tensor argument") {
    const md::CallArgs c = md::CallArgs::of(a);
    REQUIRE(c.args.size() == 1);
    CHECK(c.args[0].kind == md::CallArg::Kind::tensor);
    CHECK(c.args[0].index == 0);
    CHECK(same_handles(c.tensors, {a}));
    CHECK_FALSE(c.input_is_list());
    CHECK(c.input().id() == a.id());
    CHECK(same_handles(c.inputs(), {a}));
    CHECK(c.args_json() == parse(R"([{"__tensor__": 0}])"));
    CHECK(c.kwargs_json() == md::json::object());
  }
  SECTION("of({a, b}): op([a, b]), one list argument") {
    const md::CallArgs c = md::CallArgs::of(std::vector<md::Tensor>{a, b});
    REQUIRE(c.args.size() == 1);
    CHECK(c.args[0].kind == md::CallArg::Kind::tensor_list);
    CHECK(c.input_is_list());
    CHECK(same_handles(c.inputs(), {a, b}));
    CHECK_THROWS_WITH(c.input(), "Expected a single input tensor; received a list of 2.");
    CHECK(c.args_json() == parse(R"([[{"__tensor__": 0}, {"__tensor__": 1}]])"));
  }
  SECTION("positional({a, b}): op(a, b), several arguments; inputs() is the first only") {
    const md::CallArgs c = md::CallArgs::positional({a, b});
    REQUIRE(c.args.size() == 2);
    CHECK_FALSE(c.input_is_list());
    CHECK(same_handles(c.inputs(), {a}));
    CHECK(c.input().id() == a.id());
    CHECK(c.tensor_of(c.args[1]).id() == b.id());
    CHECK(c.args_json() == parse(R"([{"__tensor__": 0}, {"__tensor__": 1}])"));
  }
  SECTION("undefined tensors: null alone, kNone inside a list, never registered") {
    md::CallArgs c;
    const md::CallArg none = c.ref(md::Tensor());
    CHECK(none.is_null());
    CHECK(c.tensors.empty());
    const md::CallArg list = c.ref(std::vector<md::Tensor>{a, md::Tensor(), b});
    CHECK(list.indices == std::vector<size_t>{0, md::CallArg::kNone, 1});
    CHECK(c.tensors.size() == 2);
    CHECK(same_handles(c.tensors_of(list), {a, md::Tensor(), b}));
    CHECK_FALSE(c.tensor_of(none).defined());
    c.args = {list};
    CHECK(c.args_json() == parse(R"([[{"__tensor__": 0}, null, {"__tensor__": 1}]])"));
  }
  SECTION("no arguments") {
    const md::CallArgs c;
    CHECK(c.inputs().empty());
    CHECK_FALSE(c.input_is_list());
    CHECK_THROWS_WITH(c.input(), "The call has no input tensor.");
    CHECK(c.args_json() == md::json::array());
  }
}

TEST_CASE("CallArgs keyword arguments: set, find, has, typed values and tensors", "[core][call_args]") {
  const md::Tensor x = md::Tensor::ones({2, 3});
  const md::Tensor m0 = md::Tensor::ones({2}, md::DType::bool_), m1 = md::Tensor::zeros({2}, md::DType::bool_);
  md::CallArgs c = md::CallArgs::of(x);
  c.set_kwarg("training", true);
  c.set_kwarg("axis", md::json(-1));
  c.set_kwarg("mask", c.ref(std::vector<md::Tensor>{m0, m1}));
  c.set_kwarg("name", md::json(nullptr));
  c.set_kwarg("training", false);  // replaces, keeps the position
  REQUIRE(c.kwargs.size() == 4);
  CHECK(c.kwargs[0].first == "training");
  CHECK(c.kwargs[0].second.literal == md::json(false));

  CHECK(c.find_kwarg("axis") != nullptr);
  CHECK(c.find_kwarg("absent") == nullptr);
  CHECK(c.has_kwarg("axis"));
  CHECK(c.has_kwarg("mask"));
  CHECK_FALSE(c.has_kwarg("name"));  // present but null
  CHECK(c.find_kwarg("name") != nullptr);
  CHECK_FALSE(c.has_kwarg("absent"));

  CHECK(c.kwarg<bool>("training", true) == false);
  CHECK(c.kwarg<int>("axis", 7) == -1);
  CHECK(c.kwarg<int>("absent", 7) == 7);
  CHECK(c.kwarg<std::string>("name", "fallback") == "fallback");  // null: the fallback
  CHECK(c.kwarg<int>("mask", 3) == 3);                            // a tensor argument: the fallback

  CHECK(same_handles(c.kwarg_tensors("mask"), {m0, m1}));
  CHECK(c.kwarg_tensors("name").empty());
  CHECK(c.kwarg_tensors("absent").empty());
  c.set_kwarg("mask", c.ref(m1));  // one tensor: a list of one
  CHECK(same_handles(c.kwarg_tensors("mask"), {m1}));
  CHECK_THROWS_WITH(c.kwarg_tensors("axis"), "Expected a tensor argument; received -1.");

  CHECK(c.kwargs_json() == parse(R"({"training": false, "axis": -1, "mask": {"__tensor__": 3}, "name": null})"));
  // Keys stay in insertion order (Keras's order in configs).
  CHECK(c.kwargs_json().dump() == R"({"training":false,"axis":-1,"mask":{"__tensor__":3},"name":null})");
}

TEST_CASE("CallArgs::with_tensors keeps the structure over other tensors", "[core][call_args]") {
  const md::Tensor a = md::Input({4}, "call_args_a"), b = md::Input({4}, "call_args_b");
  md::CallArgs c = md::CallArgs::of(std::vector<md::Tensor>{a, b});
  c.set_kwarg("mask", c.ref(std::vector<md::Tensor>{md::Tensor(), b}));
  CHECK(c.any_symbolic());
  const md::Tensor ca = md::Tensor::ones({1, 4}), cb = md::Tensor::zeros({1, 4}), cm = md::Tensor::full({1, 4}, 2.0f);
  const md::CallArgs concrete = c.with_tensors({ca, cb, cm});
  CHECK_FALSE(concrete.any_symbolic());
  CHECK(concrete.args_json() == c.args_json());
  CHECK(concrete.kwargs_json() == c.kwargs_json());
  CHECK(same_handles(concrete.inputs(), {ca, cb}));
  CHECK(same_handles(concrete.kwarg_tensors("mask"), {md::Tensor(), cm}));
  // The original is untouched.
  CHECK(same_handles(c.inputs(), {a, b}));
  CHECK_THROWS_WITH(c.with_tensors({ca}), "with_tensors: expected 3 tensors, received 1.");
  CHECK_THROWS_AS(c.with_tensors({ca}), md::ValueError);
}

TEST_CASE("CallArgs::from_json reads back what args_json/kwargs_json write", "[core][call_args][json]") {
  const md::Tensor x = md::Tensor::ones({2}), a = md::Tensor::zeros({2}), b = md::Tensor::full({2}, 3.0f);
  md::CallArgs c = md::CallArgs::of(x);
  c.args.push_back(c.ref(std::vector<md::Tensor>{a, md::Tensor(), b}));
  c.args.emplace_back(md::json(2.5));
  c.args.emplace_back(md::json("same"));
  c.args.emplace_back(parse("[[1, 2], [3, 4]]"));  // nested numbers: a literal, not tensors
  c.set_kwarg("mask", c.ref(std::vector<md::Tensor>{md::Tensor(), a}));
  c.set_kwarg("training", true);
  c.set_kwarg("axis", md::json(nullptr));

  const md::json args = c.args_json(), kwargs = c.kwargs_json();
  CHECK(args == parse(R"([{"__tensor__": 0}, [{"__tensor__": 1}, null, {"__tensor__": 2}], 2.5, "same",
                           [[1, 2], [3, 4]]])"));
  CHECK(kwargs == parse(R"({"mask": [null, {"__tensor__": 3}], "training": true, "axis": null})"));

  const md::CallArgs back = md::CallArgs::from_json(args, kwargs, c.tensors);
  CHECK(back.args_json() == args);
  CHECK(back.kwargs_json() == kwargs);
  REQUIRE(back.args.size() == 5);
  CHECK(back.args[0].kind == md::CallArg::Kind::tensor);
  CHECK(back.args[1].kind == md::CallArg::Kind::tensor_list);
  CHECK(same_handles(back.tensors_of(back.args[1]), {a, md::Tensor(), b}));
  CHECK(back.args[2].literal == md::json(2.5));
  CHECK(back.args[4].kind == md::CallArg::Kind::value);
  CHECK(back.args[4].literal == parse("[[1, 2], [3, 4]]"));
  CHECK(same_handles(back.inputs(), {x}));
  CHECK(same_handles(back.kwarg_tensors("mask"), {md::Tensor(), a}));
  CHECK(back.kwarg<bool>("training", false));
  CHECK_FALSE(back.has_kwarg("axis"));

  // Null args and kwargs: an empty call.
  const md::CallArgs empty = md::CallArgs::from_json(nullptr, nullptr, {});
  CHECK(empty.args.empty());
  CHECK(empty.kwargs.empty());

  // Placeholders.
  CHECK(md::CallArgs::is_placeholder(parse(R"({"__tensor__": 0})")));
  CHECK_FALSE(md::CallArgs::is_placeholder(parse(R"({"tensor": 0})")));
  CHECK_FALSE(md::CallArgs::is_placeholder(parse("[0]")));
  CHECK(back.tensor_at(parse(R"({"__tensor__": 2})")).id() == b.id());
  CHECK_FALSE(back.tensor_at(nullptr).defined());
}

TEST_CASE("CallArgs::from_json errors", "[core][call_args][json][errors]") {
  const std::vector<md::Tensor> one = {md::Tensor::ones({2})};
  CHECK_THROWS_WITH(md::CallArgs::from_json(parse(R"([{"__tensor__": 1}])"), nullptr, one),
                    "Tensor reference 1 is out of range.");
  CHECK_THROWS_WITH(md::CallArgs::from_json(parse(R"([[{"__tensor__": 0}, {"__tensor__": 3}]])"), nullptr, one),
                    "Tensor reference 3 is out of range.");
  CHECK_THROWS_WITH(md::CallArgs::from_json(parse("[]"), parse(R"({"mask": {"__tensor__": 5}})"), one),
                    "Tensor reference 5 is out of range.");
  CHECK_THROWS_WITH(md::CallArgs::from_json(parse(R"([[{"__tensor__": 0}, 1.5]])"), nullptr, one),
                    R"(A list argument mixes tensors with other values: [{"__tensor__":0},1.5].)");
  CHECK_THROWS_WITH(md::CallArgs::from_json(parse(R"({"x": 1})"), nullptr, one),
                    R"(A call's args must be a list; received {"x":1}.)");
  CHECK_THROWS_WITH(md::CallArgs::from_json(parse("[]"), parse("[1]"), one),
                    "A call's kwargs must be an object; received [1].");
  CHECK_THROWS_AS(md::CallArgs::from_json(parse(R"({"x": 1})"), nullptr, one), md::ValueError);

  const md::CallArgs c = md::CallArgs::from_json(parse("[3]"), nullptr, one);
  CHECK_THROWS_WITH(c.tensor_at(parse("3")), "Expected a tensor argument; received 3.");
  CHECK_THROWS_WITH(c.input(), "Expected a tensor argument; received 3.");
  md::CallArg stray;
  stray.kind = md::CallArg::Kind::tensor;
  stray.index = 4;
  CHECK_THROWS_WITH(c.tensor_of(stray), "Tensor reference 4 is out of range.");
}

// A list of only undefined tensors is written [null, null] (as Keras writes mask=[None, None]) and
// must read back as a list of missing tensors, also through a functional config.
TEST_CASE("CallArgs::from_json: a list of only undefined tensors round-trips", "[core][call_args][json]") {
  md::CallArgs c = md::CallArgs::of(md::Tensor::ones({2}));
  c.set_kwarg("mask", c.ref(std::vector<md::Tensor>{md::Tensor(), md::Tensor()}));
  CHECK(c.kwarg_tensors("mask").size() == 2);
  CHECK(c.kwargs_json() == parse(R"({"mask": [null, null]})"));
  const md::CallArgs back = md::CallArgs::from_json(c.args_json(), c.kwargs_json(), c.tensors);
  CHECK(back.kwargs_json() == c.kwargs_json());
  CHECK_NOTHROW(back.kwarg_tensors("mask"));
  CHECK(back.find_kwarg("mask")->kind == md::CallArg::Kind::tensor_list);

  // The same through a functional config.
  const md::Tensor q = md::Input({3, 4}, "call_args_q");
  const md::Tensor out = md::layers::Attention()({q, q}, {.mask = {md::Tensor(), md::Tensor()}});
  const md::Model model(q, out);
  CHECK(model.get_config()["layers"][1]["inbound_nodes"][0]["kwargs"]["mask"] == parse("[null, null]"));
  CHECK_NOTHROW(md::Model::from_config(model.get_config()));
}

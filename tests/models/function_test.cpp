// md::Function (models/function.h), the graph part of a functional model, used directly: the
// graph it traces from md::Input tensors through layers (operations in Keras's order, nodes by
// depth), run() on concrete values against calling the layers by hand, which nodes it owns,
// Keras's sequential_like test, and the errors its constructor and run() raise (texts from
// models/function.cpp, which follows keras/src/ops/function.py).
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "model_test_helpers.h"

namespace md = minidl;

namespace function_test {

std::vector<std::string> names_by_depth(const md::Function& f, int depth) {
  std::vector<std::string> out;
  for (const auto& node : f.nodes_by_depth().at(depth)) out.push_back(node->op()->name());
  return out;
}

}  // namespace function_test

TEST_CASE("Function: a chain of layers, traced and run", "[models][function]") {
  md::clear_session();
  const md::Tensor x = md::Input({4}, "x");
  md::layers::Dense d1({.units = 3, .activation = "tanh", .name = "d1"});
  md::layers::Dense d2({.units = 2, .name = "d2"});
  const md::Tensor y = d2(d1(x));
  const md::Function f({x}, {y}, {.name = "chain", .single_input = true});

  CHECK(f.name() == "chain");
  CHECK_FALSE(f.empty());
  CHECK(f.single_input());
  CHECK_FALSE(f.single_output());
  REQUIRE(f.inputs().size() == 1);
  CHECK(f.inputs()[0].id() == x.id());
  REQUIRE(f.outputs().size() == 1);
  CHECK(f.outputs()[0].id() == y.id());
  // Keras's operations: by decreasing depth, the input first.
  CHECK(mt::names_of(f.operations()) == std::vector<std::string>{"x", "d1", "d2"});
  // Depth 0 holds the output node.
  CHECK(f.nodes_by_depth().size() == 3);
  CHECK(function_test::names_by_depth(f, 0) == std::vector<std::string>{"d2"});
  CHECK(function_test::names_by_depth(f, 2) == std::vector<std::string>{"x"});
  CHECK(f.nodes_by_depth().at(2)[0]->is_input());

  // run() replays the nodes: the same values as calling the layers on the data.
  const md::Tensor data = md::random::normal({5, 4}, 0.0f, 1.0f, 31);
  const std::vector<md::Tensor> out = f.run({data});
  REQUIRE(out.size() == 1);
  CHECK_FALSE(out[0].is_symbolic());
  CHECK(mt::same_bits(out[0], d2(d1(data))));
  // run() uses the values as they are: another batch size is fine.
  CHECK(f.run({md::Tensor::ones({1, 4})})[0].shape() == md::Shape{1, 2});

  CHECK_THROWS_WITH(f.run({data, data}), "Function 'chain' expects 1 input value(s), but it received 2.");
  CHECK_THROWS_WITH(f.run({}), "Function 'chain' expects 1 input value(s), but it received 0.");
  CHECK_THROWS_AS(f.run({}), md::ValueError);
}

TEST_CASE("Function: two inputs, Keras's operation order and the values of run()", "[models][function]") {
  md::clear_session();
  const md::Tensor a = md::Input({4}, "a");
  const md::Tensor b = md::Input({3}, "b");
  md::layers::Dense d1({.units = 3, .name = "d1"});
  md::layers::Add add({.name = "merge"});
  const md::Tensor y = add({d1(a), b});
  const md::Function f({a, b}, {y}, {.name = "pair"});
  // keras/src/ops/function.py map_graph: b's node sits at depth 1, beside d1, so b comes after a;
  // within a depth, by the order the walk from the outputs first met each operation.
  CHECK(mt::names_of(f.operations()) == std::vector<std::string>{"a", "d1", "b", "merge"});
  CHECK(function_test::names_by_depth(f, 1) == std::vector<std::string>{"d1", "b"});
  CHECK(function_test::names_by_depth(f, 2) == std::vector<std::string>{"a"});

  const md::Tensor xa = md::random::normal({2, 4}, 0.0f, 1.0f, 32);
  const md::Tensor xb = md::random::normal({2, 3}, 0.0f, 1.0f, 33);
  const std::vector<md::Tensor> out = f.run({xa, xb});
  REQUIRE(out.size() == 1);
  CHECK(mt::same_bits(out[0], add({d1(xa), xb})));
  CHECK_THROWS_WITH(f.run({xa}), "Function 'pair' expects 2 input value(s), but it received 1.");

  // Several outputs, one of them an input passed straight through.
  const md::Function both({a, b}, {y, b});
  const std::vector<md::Tensor> two = both.run({xa, xb});
  REQUIRE(two.size() == 2);
  CHECK(mt::same_bits(two[0], out[0]));
  CHECK(mt::same_bits(two[1], xb));
}

TEST_CASE("Function: owns_node and sequential_like", "[models][function]") {
  md::clear_session();
  const md::Tensor x = md::Input({4}, "x");
  md::layers::Dense d1({.units = 4, .name = "d1"});
  md::layers::Dense d2({.units = 2, .name = "d2"});

  SECTION("a chain is sequential-like; the layer's calls outside the graph are not its nodes") {
    const md::Function chain({x}, {d2(d1(x))});
    const md::Tensor other = md::Input({4}, "other");
    const md::Tensor outside = d1(other);  // a second node of d1, outside the chain
    REQUIRE(d1.inbound_nodes().size() == 2);
    CHECK(chain.owns_node(*d1.inbound_nodes()[0]));
    CHECK_FALSE(chain.owns_node(*d1.inbound_nodes()[1]));
    CHECK(chain.sequential_like());
    // A graph on the other call owns the second node only.
    const md::Function second({other}, {d1.inbound_nodes()[1]->output_tensors()[0]});
    CHECK_FALSE(second.owns_node(*d1.inbound_nodes()[0]));
    CHECK(second.owns_node(*d1.inbound_nodes()[1]));
    // A call whose outputs nobody holds leaves no node behind (the operation holds its nodes
    // weakly); the graphs' nodes stay.
    (void)d1(md::Input({4}));
    CHECK(d1.inbound_nodes().size() == 2);
  }
  SECTION("a layer called twice inside the graph: one node per depth, still not sequential-like") {
    // Its nodes once formed a reference cycle (d1 -> node -> input tensor -> history -> d1);
    // operations now hold their nodes weakly, and LeakSanitizer checks that this one is freed.
    const md::Function twice({x}, {d2(d1(d1(x)))});
    for (const auto& [depth, nodes] : twice.nodes_by_depth()) CHECK(nodes.size() == 1);
    const auto d1_nodes = d1.inbound_nodes();
    REQUIRE(d1_nodes.size() >= 2);
    CHECK(twice.owns_node(*d1_nodes[d1_nodes.size() - 2]));
    CHECK(twice.owns_node(*d1_nodes.back()));
    CHECK_FALSE(twice.sequential_like());
  }
  SECTION("a shared layer on two branches merged by a multi-input node") {
    const md::Tensor b = md::Input({4}, "b");
    const md::Tensor y = md::layers::Add({.name = "merge"})({d1(x), d1(b)});
    const md::Function graph({x, b}, {y});
    CHECK(graph.owns_node(*d1.inbound_nodes()[0]));
    CHECK(graph.owns_node(*d1.inbound_nodes()[1]));
    CHECK(graph.nodes_by_depth().at(1).size() == 2);
    CHECK_FALSE(graph.sequential_like());
  }
  SECTION("the empty Function") {
    const md::Function empty;
    CHECK(empty.empty());
    CHECK(empty.operations().empty());
    CHECK(empty.run({}).empty());
    CHECK_THROWS_WITH(empty.run({md::Tensor::ones({1})}), "Function '' expects 0 input value(s), but it received 1.");
  }
}

TEST_CASE("Function: the constructor's errors", "[models][function][errors]") {
  md::clear_session();
  const md::Tensor a = md::Input({4}, "a");
  const md::Tensor b = md::Input({4}, "b");
  const md::Tensor y = md::layers::Dense({.units = 2, .name = "head"})(a);

  CHECK_THROWS_WITH(md::Function({}, {y}), "A model needs at least one input and one output tensor.");
  CHECK_THROWS_WITH(md::Function({a}, {}), "A model needs at least one input and one output tensor.");

  const md::Tensor concrete = md::Tensor::ones({2, 4});
  CHECK_THROWS_WITH(md::Function({concrete}, {y}),
                    "All `inputs` values must be symbolic tensors produced by md::Input or by layers called on them. "
                    "Received: " +
                        md::to_string(concrete));
  // A symbolic tensor with no history (not produced by md::Input or a layer).
  const md::Tensor loose = md::Tensor::symbolic({md::None, 2});
  CHECK_THROWS_WITH(md::Function({a}, {loose}),
                    "All `outputs` values must be symbolic tensors produced by md::Input or by layers called on them. "
                    "Received: " +
                        md::to_string(loose));
  CHECK_THROWS_WITH(md::Function({a}, {md::Tensor()}),
                    Catch::StartsWith("All `outputs` values must be symbolic tensors"));

  const md::Tensor hidden = md::layers::Dense({.units = 4, .name = "hidden"})(a);
  CHECK_THROWS_WITH(md::Function({hidden}, {md::layers::Dense({.units = 1, .name = "top"})(hidden)}),
                    "Model inputs must come from md::Input (an InputLayer); <KerasTensor shape=(None, 4), "
                    "dtype=float32, name=hidden> is produced by operation 'hidden'. Build the model from the md::Input "
                    "tensors.");

  // keras/src/ops/function.py map_graph appends the operation's name once per input tensor it
  // could compute, so a node that takes h twice is listed twice before b is found missing.
  const md::Tensor merged = md::layers::Add({.name = "merge"})({hidden, hidden, b});
  CHECK_THROWS_WITH(md::Function({a}, {merged}),
                    "Graph disconnected: cannot find parent for tensor <KerasTensor shape=(None, 4), dtype=float32, "
                    "name=b> at operation 'merge'. The following previous operations were accessed without issue: "
                    "['hidden', 'merge', 'merge']");
  CHECK_THROWS_AS(md::Function({a}, {merged}), md::ValueError);
  // With b listed the same graph traces.
  CHECK(md::Function({a, b}, {merged}).operations().size() == 4);

  const md::Tensor dup = md::layers::Dense({.units = 2, .name = "head"})(hidden);
  CHECK_THROWS_WITH(md::Function({a}, {y, dup}),
                    "The name \"head\" is used 2 times in the model. All operation names should be unique.");
}

// model.summary() (Keras 3's rich table, character for character), to_dot() and plot_model
// (Graphviz PNG/SVG, a .dot file without Graphviz, clear errors for bad extensions and a missing
// `dot` program).
#include <minidl/minidl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "model_test_helpers.h"

namespace md = minidl;

namespace {

// The expected tables below follow keras/src/utils/summary_utils.py print_summary at Keras
// 3.16: positions [0.45, 0.80, 1.0] (88 columns) for sequential-like graphs and
// [0.3, 0.56, 0.74, 1.0] (108 columns) otherwise, rendered by rich's Table(width=line_length,
// show_lines=True): each column gets its share plus one space of padding on each side, then
// rich's ratio_reduce takes the excess over the room between the borders back evenly (Python
// rounding), and the "Param #" column, header included, is right-justified. Sizes are
// readable_memory_size of 4 bytes per float32 parameter.
const char* const kSmall = R"(Model: "small"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┓
┃ Layer (type)                         ┃ Output Shape                ┃         Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━┩
│ x (InputLayer)                       │ (None, 3)                   │               0 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ hidden (Dense)                       │ (None, 4)                   │              16 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ out (Dense)                          │ (None, 2)                   │              10 │
└──────────────────────────────────────┴─────────────────────────────┴─────────────────┘
 Total params: 26 (104.00 B)
 Trainable params: 26 (104.00 B)
 Non-trainable params: 0 (0.00 B)
)";

const char* const kTwoTowers = R"(Model: "two_towers"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓
┃ Layer (type)                  ┃ Output Shape              ┃         Param # ┃ Connected to               ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩
│ a (InputLayer)                │ (None, 4)                 │               0 │ -                          │
├───────────────────────────────┼───────────────────────────┼─────────────────┼────────────────────────────┤
│ b (InputLayer)                │ (None, 4)                 │               0 │ -                          │
├───────────────────────────────┼───────────────────────────┼─────────────────┼────────────────────────────┤
│ shared (Dense)                │ (None, 3)                 │              15 │ a[0][0], b[0][0]           │
├───────────────────────────────┼───────────────────────────┼─────────────────┼────────────────────────────┤
│ concatenate (Concatenate)     │ (None, 6)                 │               0 │ shared[0][0], shared[1][0] │
├───────────────────────────────┼───────────────────────────┼─────────────────┼────────────────────────────┤
│ dense (Dense)                 │ (None, 2)                 │              14 │ concatenate[0][0]          │
└───────────────────────────────┴───────────────────────────┴─────────────────┴────────────────────────────┘
 Total params: 29 (116.00 B)
 Trainable params: 29 (116.00 B)
 Non-trainable params: 0 (0.00 B)
)";

const char* const kStack = R"(Model: "stack"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┓
┃ Layer (type)                         ┃ Output Shape                ┃         Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━┩
│ hidden (Dense)                       │ ?                           │     0 (unbuilt) │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ out (Dense)                          │ ?                           │     0 (unbuilt) │
└──────────────────────────────────────┴─────────────────────────────┴─────────────────┘
 Total params: 0 (0.00 B)
 Trainable params: 0 (0.00 B)
 Non-trainable params: 0 (0.00 B)
)";

const char* const kNarrow = R"(Model: "small"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ x (InputLayer)                  │ (None, 3)              │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ hidden (Dense)                  │ (None, 4)              │            16 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ out (Dense)                     │ (None, 2)              │            10 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 26 (104.00 B)
 Trainable params: 26 (104.00 B)
 Non-trainable params: 0 (0.00 B)
)";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + what.size())) ++n;
  return n;
}

md::Model small_chain(const std::string& name) {
  const md::Tensor x = md::Input({3}, "x");
  const md::Tensor h = md::layers::Dense({.units = 4, .activation = "relu", .name = "hidden"})(x);
  return md::Model(x, md::layers::Dense({.units = 2, .name = "out"})(h), name);
}

// Sets PATH for its lifetime and restores the old value.
class ScopedPath {
 public:
  explicit ScopedPath(const std::string& value) {
    if (const char* old = std::getenv("PATH")) old_ = old;
    ::setenv("PATH", value.c_str(), 1);
  }
  ~ScopedPath() {
    if (old_) {
      ::setenv("PATH", old_->c_str(), 1);
    } else {
      ::unsetenv("PATH");
    }
  }
  ScopedPath(const ScopedPath&) = delete;
  ScopedPath& operator=(const ScopedPath&) = delete;

 private:
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("summary: the three-column table of a chain, exactly", "[models][summary]") {
  md::clear_session();
  md::Model model = small_chain("small");
  const std::string text = model.summary_string();
  CHECK(text == kSmall);
  // Every table line is 88 characters wide (box characters count as one).
  for (const std::string& line : lines_of(text)) {
    if (line.rfind(" ", 0) == 0 || line.rfind("Model:", 0) == 0) continue;
    size_t chars = 0;
    for (unsigned char c : line) chars += (c & 0xC0) != 0x80 ? 1 : 0;
    INFO(line);
    CHECK(chars == 88);
  }
  // An explicit line length: 76 is what Keras uses on an 80-column terminal.
  CHECK(model.summary_string(76) == kNarrow);
  CHECK_THROWS_AS(model.summary_string(10), md::ValueError);  // rich cannot fit the columns
}

TEST_CASE("summary: the four-column table with connections for a graph", "[models][summary]") {
  md::clear_session();
  const md::Tensor a = md::Input({4}, "a");
  const md::Tensor b = md::Input({4}, "b");
  md::layers::Dense shared({.units = 3, .name = "shared"});
  const md::Tensor merged = md::layers::Concatenate()({shared(a), shared(b)});
  md::Model model({a, b}, {md::layers::Dense({.units = 2})(merged)}, "two_towers");
  CHECK(model.summary_string() == kTwoTowers);

  // Keras's sequential_like test: two nodes at one depth (two heads on one trunk) is not a chain,
  // even though no layer has two inputs.
  md::clear_session();
  const md::Tensor x = md::Input({3}, "x");
  const md::Tensor h = md::layers::Dense({.units = 4, .name = "trunk"})(x);
  md::Model heads(
      {x}, {md::layers::Dense({.units = 1, .name = "p"})(h), md::layers::Dense({.units = 1, .name = "q"})(h)}, "heads");
  const std::string heads_text = heads.summary_string();
  CHECK_THAT(heads_text, Catch::Matchers::Contains("┃ Connected to"));
  CHECK_THAT(heads_text, Catch::Matchers::Contains("│ trunk[0][0]"));
  CHECK(count(heads_text, "trunk[0][0]") == 2);

  // A layer also called outside the model: only this model's calls are listed, and a plain
  // chain stays a chain.
  md::clear_session();
  md::layers::Dense reused({.units = 2, .name = "reused"});
  (void)reused(md::Input({2}, "elsewhere"));
  const md::Tensor y = md::Input({2}, "y");
  md::Model chain(y, reused(y), "chain");
  const std::string chain_text = chain.summary_string();
  CHECK_THAT(chain_text, !Catch::Matchers::Contains("Connected to"));
  CHECK_THAT(chain_text, Catch::Matchers::Contains("│ reused (Dense)"));
}

TEST_CASE("summary: Sequential lists its layers, built or not", "[models][summary][sequential]") {
  md::clear_session();
  md::Sequential stack(
      {md::layers::Dense({.units = 4, .name = "hidden"}), md::layers::Dense({.units = 2, .name = "out"})}, "stack");
  CHECK(stack.summary_string() == kStack);
  // Built from a leading Input: no InputLayer row, the same rows as the functional chain.
  md::Sequential built({md::Input({3}, "x"), md::layers::Dense({.units = 4, .activation = "relu", .name = "hidden2"}),
                        md::layers::Dense({.units = 2, .name = "out2"})},
                       "small");
  const std::string text = built.summary_string();
  CHECK_THAT(text, !Catch::Matchers::Contains("InputLayer"));
  CHECK_THAT(text, Catch::Matchers::Contains(
                       "│ hidden2 (Dense)                      │ (None, 4)                   │              16 │"));
  CHECK_THAT(text, Catch::Matchers::Contains(" Total params: 26 (104.00 B)\n"));
  // After pop the popped layer is gone from the rows and the totals.
  built.pop();
  const std::string popped = built.summary_string();
  CHECK_THAT(popped, !Catch::Matchers::Contains("out2"));
  CHECK_THAT(popped, Catch::Matchers::Contains(" Total params: 16 (64.00 B)\n"));
}

TEST_CASE("summary: totals with thousands separators, KB/MB sizes and non-trainable weights", "[models][summary]") {
  md::clear_session();
  const md::Tensor x = md::Input({784}, "pixels");
  md::layers::Dense frozen({.units = 1000, .name = "frozen"});
  const md::Tensor h = frozen(x);
  md::Model model(x, md::layers::Dense({.units = 10, .name = "logits"})(h), "mnist");
  frozen.set_trainable(false);
  const std::string text = model.summary_string();
  CHECK_THAT(text, Catch::Matchers::Contains("│         785,000 │"));
  CHECK_THAT(text, Catch::Matchers::Contains("│          10,010 │"));
  // 795,010 * 4 B = 3,180,040 B = 3.03 MB; 10,010 * 4 B = 39.10 KB; 785,000 * 4 B = 2.99 MB.
  CHECK_THAT(text, Catch::Matchers::EndsWith(" Total params: 795,010 (3.03 MB)\n"
                                             " Trainable params: 10,010 (39.10 KB)\n"
                                             " Non-trainable params: 785,000 (2.99 MB)\n"));
}

TEST_CASE("to_dot: every layer and every edge", "[models][plot]") {
  md::clear_session();
  const md::Tensor a = md::Input({4}, "a");
  const md::Tensor b = md::Input({4}, "b");
  md::layers::Dense shared({.units = 3, .name = "shared"});
  const md::Tensor merged = md::layers::Concatenate()({shared(a), shared(b)});
  md::Model model({a, b}, {md::ops::softmax(md::layers::Dense({.units = 2})(merged))}, "two_towers");
  const std::string dot = model.to_dot();
  CHECK_THAT(dot, Catch::Matchers::StartsWith("digraph \"two_towers\" {"));
  CHECK_THAT(dot, Catch::Matchers::EndsWith("}\n"));
  // Nodes are numbered in model.operations() order.
  const std::vector<std::string> names = {"a (InputLayer)", "b (InputLayer)",
                                          "shared (Dense)", "concatenate (Concatenate)",
                                          "dense (Dense)",  "softmax (Softmax)"};
  for (size_t i = 0; i < names.size(); ++i) {
    INFO(names[i]);
    CHECK_THAT(dot, Catch::Matchers::Contains("  op" + std::to_string(i) + " [label=\"{" + names[i]));
  }
  // a -> shared, b -> shared, shared -> concatenate (one edge per call), concatenate -> dense,
  // dense -> softmax.
  CHECK(count(dot, "  op0 -> op2;\n") == 1);
  CHECK(count(dot, "  op1 -> op2;\n") == 1);
  CHECK(count(dot, "  op2 -> op3;\n") == 2);
  CHECK(count(dot, "  op3 -> op4;\n") == 1);
  CHECK(count(dot, "  op4 -> op5;\n") == 1);
  CHECK(count(dot, " -> ") == 6);
  // Shapes in the labels, or not.
  CHECK_THAT(dot, Catch::Matchers::Contains("Output shape: (None, 6)"));
  CHECK_THAT(dot, Catch::Matchers::Contains("Input shape: (None, 3), (None, 3)|"));
  CHECK_THAT(model.to_dot(false), !Catch::Matchers::Contains("Output shape"));
  CHECK_THAT(model.to_dot(false), !Catch::Matchers::Contains("Input shape"));
  CHECK(count(model.to_dot(false), " -> ") == 6);
}

TEST_CASE("plot_model: PNG and SVG through Graphviz, .dot without it, clear errors", "[models][plot]") {
  md::clear_session();
  md::Model model = small_chain("plotted");
  mt::TempDir dir;

  SECTION("with Graphviz installed") {
    REQUIRE(md::graphviz_available());  // graphviz is part of the set-up (scripts/setup.sh)
    md::plot_model(model, dir.file("model.png"));
    const std::string png = mt::read_text(dir.file("model.png"));
    REQUIRE(png.size() > 100);
    CHECK(png.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
    md::plot_model(model, dir.file("model.svg"), {.show_shapes = false});
    const std::string svg = mt::read_text(dir.file("model.svg"));
    CHECK_THAT(svg, Catch::Matchers::Contains("<svg"));
    CHECK_THAT(svg, Catch::Matchers::Contains("hidden (Dense)"));
    CHECK_THAT(svg, !Catch::Matchers::Contains("Output shape"));
    // No temporary files are left next to the pictures.
    size_t files = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path())) ++files;
    CHECK(files == 2);
  }

  SECTION("an unknown extension") {
    const std::string path = dir.file("model.bmp");
    CHECK(mt::error_message([&] { md::plot_model(model, path); }) ==
          "plot_model: unsupported file extension '.bmp' for '" + path + "' (use .png, .svg, .pdf or .dot).");
    CHECK_THROWS_AS(md::plot_model(model, path), md::ValueError);
    CHECK_THROWS_AS(md::plot_model(model, dir.file("model")), md::ValueError);
    CHECK_FALSE(std::filesystem::exists(path));
  }

  SECTION("without Graphviz on the PATH") {
    const std::filesystem::path empty = dir.path() / "empty_bin";
    std::filesystem::create_directories(empty);
    const std::string path = dir.file("model.png");
    {
      ScopedPath scoped(empty.string());
      CHECK_FALSE(md::graphviz_available());
      const std::string message = mt::error_message([&] { md::plot_model(model, path); });
      CHECK_THAT(message, Catch::Matchers::Contains("Graphviz"));
      CHECK_THAT(message, Catch::Matchers::Contains("`dot`"));
      CHECK_THAT(message, Catch::Matchers::Contains("not installed"));
      CHECK_FALSE(std::filesystem::exists(path));
      // The DOT text needs no Graphviz.
      md::plot_model(model, dir.file("model.dot"));
      CHECK(mt::read_text(dir.file("model.dot")) == model.to_dot());
    }
    CHECK(md::graphviz_available());  // PATH is back
  }
}

// Symbolic tracing: build a functional model from md::Input tensors (no data flows), print its
// summary, draw it, write its JSON config, load the config back and run both on data.
#include <minidl/minidl.h>

#include <fstream>

namespace md = minidl;

int main() {
  // Two inputs sharing one Dense layer, merged and classified.
  md::Tensor left = md::Input({16}, "left");
  md::Tensor right = md::Input({16}, "right");
  md::layers::Dense shared({.units = 32, .activation = "relu", .name = "shared_encoder"});
  md::Tensor merged = md::layers::Concatenate()({shared(left), shared(right)});
  md::Tensor hidden = md::layers::Dropout({.rate = 0.2f})(md::layers::Dense({.units = 16, .activation = "gelu"})(merged));
  md::Tensor logits = md::layers::Dense({.units = 3, .name = "logits"})(hidden);
  md::Tensor probabilities = md::ops::softmax(logits);  // raw ops trace too
  md::Model model({left, right}, {probabilities}, "siamese_classifier");

  model.summary();
  md::save_config(model, "trace_graph.json");
  std::ofstream("trace_graph.dot") << model.to_dot();
  if (md::graphviz_available()) {
    md::plot_model(model, "trace_graph.png");
    fmt::print("wrote trace_graph.json, trace_graph.dot and trace_graph.png\n");
  } else {
    fmt::print("wrote trace_graph.json and trace_graph.dot (install graphviz for the PNG)\n");
  }

  md::Model reloaded = md::load_config("trace_graph.json");
  reloaded.set_weights(model.get_weights());
  md::Tensor a = md::random::normal({4, 16}, 0.0f, 1.0f, /*seed=*/1);
  md::Tensor b = md::random::normal({4, 16}, 0.0f, 1.0f, /*seed=*/2);
  md::Tensor p = model({a, b});
  md::Tensor q = reloaded({a, b});
  fmt::print("predictions:\n{}\nreloaded model agrees: {}\n", p, p.to_vector() == q.to_vector());
  return p.to_vector() == q.to_vector() ? 0 : 1;
}

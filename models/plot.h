#pragma once
// Pictures of a model's graph through Graphviz.
//   std::string dot = model.to_dot();
//   md::plot_model(model, "model.png");   // or .svg/.pdf; .dot writes the text only
// Rendering needs Graphviz's `dot` program (Debian package graphviz); without it plot_model
// throws an Error that says so.
#include <string>

#include "minidl/models/model.h"

namespace minidl {

struct PlotOptions {
  bool show_shapes = true;
};

void plot_model(const Model& model, const std::string& path, const PlotOptions& options = {});

// True when Graphviz's `dot` program can be run.
bool graphviz_available();

}  // namespace minidl

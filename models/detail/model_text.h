#pragma once
// A model's graph as text, behind Model::summary_string and Model::to_dot: Keras's summary
// table (models/summary.cpp) and Graphviz DOT (models/plot.cpp). Both read the model through
// its public interface and its Function (model.graph()).
#include <string>

#include "minidl/models/model.h"

namespace minidl::detail {

// Keras's print_summary table: one row per operation (a Sequential's layers without the
// InputLayer), a "Connected to" column unless the graph is sequential-like, then the totals.
// ValueError when `line_length` (0: Keras's default) leaves a column under 4 characters.
std::string model_summary_table(const Model& model, int line_length);

// Keras's model_to_dot: one record per operation (with input/output shapes when
// `show_shapes`), one edge per tensor between the graph's operations.
std::string model_to_dot(const Model& model, bool show_shapes);

}  // namespace minidl::detail

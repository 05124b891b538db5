// The summary part of a model: Keras 3's summary table (rich's heavy-head box, one row per
// operation) behind Model::summary and Model::summary_string (models/detail/model_text.h).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "minidl/core/error.h"
#include "minidl/models/detail/model_text.h"
#include "minidl/models/sequential.h"

namespace minidl {
namespace {

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  if (n < 0) out.insert(out.begin(), '-');
  return out;
}

// Keras's readable_memory_size: bytes in B, KB, MB, ... with two decimals.
std::string readable_bytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  for (const char* unit : units) {
    if (bytes / 1024.0 < 1.0) return fmt::format("{:.2f} {}", bytes, unit);
    bytes /= 1024.0;
  }
  return fmt::format("{:.2f} PB", bytes);
}

// Word-wraps `text` to `width` columns (breaking long words), as rich does in table cells.
std::vector<std::string> wrap(const std::string& text, size_t width) {
  std::vector<std::string> lines;
  std::string line;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    std::string word = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? text.size() : end + 1;
    while (word.size() > width) {
      if (!line.empty()) {
        lines.push_back(line);
        line.clear();
      }
      lines.push_back(word.substr(0, width));
      word = word.substr(width);
    }
    if (line.empty()) {
      line = word;
    } else if (line.size() + 1 + word.size() <= width) {
      line += " " + word;
    } else {
      lines.push_back(line);
      line = word;
    }
  }
  if (!line.empty() || lines.empty()) lines.push_back(line);
  return lines;
}

std::string repeat(const char* s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

// Keras's format_shape: "(None, 3)", and "(None)" for one axis (no tuple comma).
std::string keras_shape(const Shape& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    out += i ? ", " : "";
    out += shape[i] < 0 ? std::string("None") : std::to_string(shape[i]);
  }
  return out + ")";
}

std::string output_shape_text(const Operation& op) {
  if (op.inbound_nodes().empty()) return "?";
  std::vector<std::string> shapes;
  for (const Tensor& t : op.inbound_nodes().back()->output_tensors()) shapes.push_back(keras_shape(t.shape()));
  if (shapes.size() == 1) return shapes[0];
  std::string out = "[";
  for (size_t i = 0; i < shapes.size(); ++i) out += (i ? ", " : "") + shapes[i];
  return out + "]";
}

}  // namespace

std::string detail::model_summary_table(const Model& model, int line_length) {
  std::vector<std::shared_ptr<Operation>> ops;
  if (const auto* sequential = dynamic_cast<const Sequential*>(&model)) {
    // Keras lists a Sequential model's layers (its stack, built or not), without the InputLayer.
    for (const auto& layer : sequential->layers()) ops.push_back(layer);
  } else {
    ops = model.operations();
  }
  // Keras's print_summary: a Sequential is always sequential-like; a functional graph is when
  // every depth holds one node with at most one input tensor and no layer has two of its nodes.
  const bool chain = model.class_name() == "Sequential" || model.graph().sequential_like();
  std::vector<std::string> header = {"Layer (type)", "Output Shape", "Param #"};
  std::vector<double> positions = {0.45, 0.80, 1.0};
  int width = line_length > 0 ? line_length : 88;
  if (!chain) {
    header.push_back("Connected to");
    positions = {0.3, 0.56, 0.74, 1.0};
    width = line_length > 0 ? line_length : 108;
  }
  // rich's Table(width=line_length) with fixed-width columns: each column asks for its share of
  // the line plus one space of padding each side; the excess over the room left by the borders
  // is taken back evenly (rich's ratio_reduce, Python's round-half-even).
  std::vector<int> columns;
  int current = 0;
  for (double position : positions) {
    const int col = static_cast<int>(position * width) - current;
    if (col < 4) throw ValueError("Insufficient console width to print summary.");
    columns.push_back(col + 2);
    current += col;
  }
  int excess = -(width - static_cast<int>(columns.size()) - 1);
  for (int col : columns) excess += col;
  if (excess > 0) {
    int remaining_ratio = static_cast<int>(columns.size());
    for (int& col : columns) {
      const int cut = std::min(col, static_cast<int>(std::nearbyint(static_cast<double>(excess) / remaining_ratio)));
      col -= cut;
      excess -= cut;
      --remaining_ratio;
    }
  }
  std::vector<size_t> cells;  // text width inside the padding
  for (int col : columns) cells.push_back(static_cast<size_t>(std::max(0, col - 2)));
  auto rule = [&](const char* left, const char* fill, const char* mid, const char* right) {
    std::string out = left;
    for (size_t i = 0; i < cells.size(); ++i) {
      out += repeat(fill, cells[i] + 2);
      out += i + 1 < cells.size() ? mid : right;
    }
    return out + "\n";
  };
  auto row = [&](const std::vector<std::string>& fields, const char* bar, const std::vector<bool>& right_align) {
    std::vector<std::vector<std::string>> wrapped;
    size_t height = 1;
    for (size_t i = 0; i < fields.size(); ++i) {
      wrapped.push_back(wrap(fields[i], cells[i]));
      height = std::max(height, wrapped.back().size());
    }
    std::string out;
    for (size_t line = 0; line < height; ++line) {
      out += bar;
      for (size_t i = 0; i < fields.size(); ++i) {
        const std::string text = line < wrapped[i].size() ? wrapped[i][line] : "";
        const size_t pad = cells[i] - std::min(cells[i], text.size());
        out += ' ';
        if (right_align[i]) out.append(pad, ' ');
        out += text;
        if (!right_align[i]) out.append(pad, ' ');
        out += ' ';
        out += bar;
      }
      out += "\n";
    }
    return out;
  };

  std::string out = fmt::format("Model: \"{}\"\n", model.name());
  out += rule("┏", "━", "┳", "┓");
  // rich justifies the header like the column: "Param #" is right-aligned too.
  const std::vector<bool> align = {false, false, true, false};
  out += row(header, "┃", std::vector<bool>(align.begin(), align.begin() + static_cast<long>(header.size())));
  out += rule("┡", "━", "╇", "┩");
  for (size_t k = 0; k < ops.size(); ++k) {
    const auto& op = ops[k];
    std::vector<std::string> fields = {fmt::format("{} ({})", op->name(), op->class_name()), output_shape_text(*op)};
    const auto* layer = dynamic_cast<const Layer*>(op.get());
    if (!layer) {
      fields.push_back("0");
    } else if (!layer->built()) {
      fields.push_back("0 (unbuilt)");
    } else {
      fields.push_back(with_commas(layer->count_params()));
    }
    if (!chain) {
      std::string connections;
      for (const auto& node : op->inbound_nodes()) {
        if (!model.graph().owns_node(*node)) continue;  // a call outside this model
        for (const Tensor& t : node->input_tensors()) {
          const auto& h = *t.impl()->history;
          if (!connections.empty()) connections += ", ";
          connections += fmt::format("{}[{}][{}]", h.operation->name(), h.node_index, h.tensor_index);
        }
      }
      fields.push_back(connections.empty() ? "-" : connections);
    }
    out += row(fields, "│", std::vector<bool>(align.begin(), align.begin() + static_cast<long>(fields.size())));
    if (k + 1 < ops.size()) out += rule("├", "─", "┼", "┤");
  }
  out += rule("└", "─", "┴", "┘");
  int64_t trainable_count = 0, non_trainable_count = 0;
  for (const Variable& v : model.trainable_weights()) trainable_count += v.value().size();
  for (const Variable& v : model.non_trainable_weights()) non_trainable_count += v.value().size();
  const int64_t total = trainable_count + non_trainable_count;
  out += fmt::format(" Total params: {} ({})\n", with_commas(total), readable_bytes(4.0 * static_cast<double>(total)));
  out += fmt::format(" Trainable params: {} ({})\n", with_commas(trainable_count),
                     readable_bytes(4.0 * static_cast<double>(trainable_count)));
  out += fmt::format(" Non-trainable params: {} ({})\n", with_commas(non_trainable_count),
                     readable_bytes(4.0 * static_cast<double>(non_trainable_count)));
  return out;
}

}  // namespace minidl

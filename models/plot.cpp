// The picture part of a model: Keras's model_to_dot behind Model::to_dot
// (models/detail/model_text.h), and md::plot_model, which renders it through Graphviz.
#include "minidl/models/plot.h"

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "minidl/core/error.h"
#include "minidl/models/detail/model_text.h"

namespace minidl {
namespace {

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string shapes_text(const std::vector<Tensor>& ts) {
  std::string out;
  for (size_t i = 0; i < ts.size(); ++i) out += (i ? ", " : "") + shape_to_string(ts[i].shape());
  return out;
}

// Runs `dot -T<format> -o <out> <in>` without a shell.
int run_dot(const std::string& format, const std::string& in, const std::string& out) {
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const std::string type = "-T" + format;
    execlp("dot", "dot", type.c_str(), "-o", out.c_str(), in.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

std::string detail::model_to_dot(const Model& model, bool show_shapes) {
  std::string out =
      fmt::format("digraph \"{}\" {{\n  graph [rankdir=TB, concentrate=true, dpi=96];\n", escape(model.name()));
  out += "  node [shape=record, fontname=\"Helvetica\", fontsize=11];\n";
  std::unordered_map<const Operation*, size_t> ids;
  const auto ops = model.operations();
  for (size_t i = 0; i < ops.size(); ++i) ids[ops[i].get()] = i;
  for (size_t i = 0; i < ops.size(); ++i) {
    const auto& op = ops[i];
    std::string label = escape(op->name() + " (" + op->class_name() + ")");
    if (show_shapes && !op->inbound_nodes().empty()) {
      const std::shared_ptr<Node> node = op->inbound_nodes().back();
      const std::string in = node->is_input() ? "" : shapes_text(node->input_tensors());
      const std::string out_shapes = shapes_text(node->output_tensors());
      label = fmt::format("{}|{{{}Output shape: {}}}", label, in.empty() ? "" : "Input shape: " + escape(in) + "|",
                          escape(out_shapes));
    }
    out += fmt::format("  op{} [label=\"{{{}}}\"];\n", i, label);
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    for (const auto& node : ops[i]->inbound_nodes()) {
      if (!model.graph().owns_node(*node)) continue;  // a call of the layer outside this model
      for (const Tensor& t : node->input_tensors()) {
        auto it = ids.find(t.impl()->history->operation.get());
        if (it != ids.end()) out += fmt::format("  op{} -> op{};\n", it->second, i);
      }
    }
  }
  return out + "}\n";
}

bool graphviz_available() {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::string paths = path;
  size_t start = 0;
  while (start <= paths.size()) {
    const size_t end = paths.find(':', start);
    const std::string dir = paths.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty() && access((dir + "/dot").c_str(), X_OK) == 0) return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

void plot_model(const Model& model, const std::string& path, const PlotOptions& options) {
  const std::filesystem::path target(path);
  std::string format = target.extension().string();
  if (!format.empty()) format = format.substr(1);
  const std::string dot = model.to_dot(options.show_shapes);
  if (format == "dot" || format == "gv") {
    std::ofstream(path) << dot;
    return;
  }
  if (format != "png" && format != "svg" && format != "pdf" && format != "jpg") {
    throw ValueError(fmt::format("plot_model: unsupported file extension '{}' for '{}' (use .png, .svg, .pdf or .dot).",
                                 target.extension().string(), path));
  }
  if (!graphviz_available()) {
    throw Error(fmt::format(
        "plot_model needs Graphviz's `dot` program to write '{}', and it is not installed. Install the Debian package "
        "with: apt-get install graphviz (scripts/setup.sh --demo does it), or write the DOT text with a .dot path.",
        path));
  }
  const std::filesystem::path dot_file = target.string() + ".dot.tmp";
  std::ofstream(dot_file) << dot;
  const int status = run_dot(format, dot_file.string(), path);
  std::filesystem::remove(dot_file);
  if (status != 0) throw Error(fmt::format("plot_model: `dot -T{}` failed with status {} for '{}'.", format, status, path));
}

}  // namespace minidl

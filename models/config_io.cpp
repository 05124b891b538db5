#include "minidl/models/config_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "minidl/core/error.h"
#include "minidl/core/read_limits.h"
#include "minidl/layers/serialization.h"
#include "minidl/models/keras2_config.h"

namespace minidl {

void write_file_atomically(const std::string& path, const std::string& contents) {
  const std::filesystem::path target(path);
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  std::string temp = (dir / ("." + target.filename().string() + ".tmpXXXXXX")).string();
  const int fd = mkstemp(temp.data());
  if (fd < 0) throw IOError(fmt::format("Cannot write '{}': {}", path, std::strerror(errno)));
  // mkstemp creates the file 0600; give it the mode a plain open() would (0666 less the umask).
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string reason = std::strerror(errno);
      ::close(fd);
      std::remove(temp.c_str());
      throw IOError(fmt::format("Cannot write '{}': {}", path, reason));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(temp.c_str());
    throw IOError(fmt::format("Cannot write '{}': {}", path, reason));
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(temp.c_str());
    throw IOError(fmt::format("Cannot write '{}': {}", path, reason));
  }
  // Make the rename itself durable.
  if (const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IOError(fmt::format("Cannot open '{}': {}", path, std::strerror(errno)));
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw IOError(fmt::format("Cannot read '{}'.", path));
  return buffer.str();
}

json read_json_file(const std::string& path) {
  const std::string text = read_file(path);
  // The usual mix-up: a whole saved model where a config was expected. Say what the file is.
  if (text.starts_with(std::string_view("PK\x03\x04", 4))) {
    throw ValueError(fmt::format("'{}' is a zip archive (a `.keras` model file), not a JSON config: load it with "
                                 "md::load_model(\"{}\").",
                                 path, path));
  }
  if (text.starts_with(std::string_view("\x89HDF\r\n\x1a\n", 8)) && !path.ends_with(".weights.h5")) {
    throw ValueError(fmt::format("'{}' is an HDF5 file, not a JSON config: a whole model saved by tf.keras 2 "
                                 "(model.save(\"x.h5\")) loads with md::load_model(\"{}\"), saved weights with "
                                 "md::load_weights(model, \"{}\").",
                                 path, path, path));
  }
  if (text.starts_with(std::string_view("\x89HDF\r\n\x1a\n", 8))) {
    throw ValueError(fmt::format("'{}' is an HDF5 file (saved weights), not a JSON config: load weights into a "
                                 "model with md::load_weights(model, \"{}\").",
                                 path, path));
  }
  return parse_json_text(text, "'" + path + "'");
}

json parse_json_text(const std::string& text, const std::string& source) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    // nlohmann reports a byte offset; users want a line and a column.
    size_t line = 1, column = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string reason = e.what();
    if (auto pos = reason.find("syntax error"); pos != std::string::npos) reason = reason.substr(pos);
    throw ValueError(fmt::format("Malformed JSON in {} at line {}, column {}: {}", source, line, column, reason));
  } catch (const json::exception& e) {
    // The parser's other failures: a number beyond double's range ("1e400", found by the
    // keras2_config fuzzer) is json::out_of_range 406, which carries no position.
    std::string reason = e.what();
    if (auto pos = reason.find("] "); pos != std::string::npos) reason = reason.substr(pos + 2);
    throw ValueError(fmt::format("Malformed JSON in {}: {}", source, reason));
  }
}

namespace {

Model model_from_config_unchecked(const json& saved) {
  const json object = keras2::model_config(saved);  // a Keras 3 envelope comes back as it is
  if (object.is_object() && object.contains("layers") && !object.contains("class_name")) {
    return Model::from_config(object);  // a bare Functional config
  }
  auto op = deserialize_operation(object);
  auto model = std::dynamic_pointer_cast<Model>(op);
  if (!model) {
    throw TypeError(fmt::format("The config describes a '{}', not a model.", op->class_name()));
  }
  if (model->class_name() != "Functional" && !model->built()) {
    // A Model returned by value cannot be a Sequential: it is the functional model over the
    // Sequential's graph (models/model.h), which an unbuilt Sequential does not have yet.
    throw ValueError(fmt::format(
        "The config describes a {} model '{}' that was never built, so it has no graph to load as a functional "
        "model; rebuild it with md::deserialize(md::read_json_file(path)).",
        model->class_name(), model->name()));
  }
  // A Sequential becomes the functional model over its graph, its layers and compile state
  // (a copy into md::Model: models/model.h).
  return *model;
}

}  // namespace

Model model_from_config(const json& saved) {
  // A config is untrusted input: what building it may allocate is capped (core/read_limits.h).
  const detail::ReadAllocationScope scope("a model config");
  try {
    return model_from_config_unchecked(saved);
  } catch (const json::exception& e) {
    // A value of an unexpected type deep inside a layer config; still an md::Error for the caller.
    throw ValueError(fmt::format("The model config cannot be read: {}", e.what()));
  }
}

void save_config(const Model& model, const std::string& path) {
  write_file_atomically(path, serialize(model).dump(2) + "\n");
}

Model load_config(const std::string& path) {
  const detail::ReadAllocationScope scope(fmt::format("the model config '{}'", path));
  const json object = read_json_file(path);
  try {
    return model_from_config(object);
  } catch (const Error& e) {
    throw ValueError(fmt::format("Cannot load the model config '{}': {}", path, e.what()));
  } catch (const json::exception& e) {
    // A value of an unexpected type deep inside a layer config; still an md::Error for the caller.
    throw ValueError(fmt::format("Cannot load the model config '{}': {}", path, e.what()));
  }
}

}  // namespace minidl

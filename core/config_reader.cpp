#include "minidl/core/config_reader.h"

namespace minidl {

std::string python_repr(std::optional<double> value) {
  if (!value) return "None";
  return json(*value).dump();  // nlohmann's shortest round-trip form is Python's for these
}

std::string python_repr(const json& value) {
  if (value.is_null()) return "None";
  if (value.is_boolean()) return value.get<bool>() ? "True" : "False";
  if (value.is_string()) return "'" + value.get<std::string>() + "'";
  if (value.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < value.size(); ++i) out += (i ? ", " : "") + python_repr(value[i]);
    return out + "]";
  }
  if (value.is_object()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [key, item] : value.items()) {
      out += (first ? "'" : ", '") + key + "': " + python_repr(item);
      first = false;
    }
    return out + "}";
  }
  return value.dump();
}

ConfigReader::ConfigReader(const json& config, std::string class_name)
    : config_(config), class_name_(std::move(class_name)) {
  if (!config_.is_object()) {
    throw TypeError(fmt::format("{} config must be an object; received {}.", class_name_, config_.dump()));
  }
}

const json* ConfigReader::find(const std::string& key) const {
  read_.insert(key);
  auto it = config_.find(key);
  return it == config_.end() ? nullptr : &*it;
}

const json& ConfigReader::at(const std::string& key) const {
  const json* value = find(key);
  if (value == nullptr) throw_missing(key, "a value");
  return *value;
}

const json& ConfigReader::required_array(const std::string& key) const {
  const json* value = find(key);
  if (value == nullptr || value->is_null()) throw_missing(key, "a list");
  if (!value->is_array()) throw_mistyped(key, "a list", *value);
  return *value;
}

int64_t ConfigReader::integer_value(const std::string& key, const json& value) const {
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e15) return static_cast<int64_t>(d);
  }
  throw_mistyped(key, "an integer", value);
}

void ConfigReader::reject_non_null(std::initializer_list<const char*> keys) const {
  for (const char* key : keys) {
    read_.insert(key);
    if (has(key)) {
      throw NotImplementedError(
          fmt::format("{} config key '{}' is not supported by minidl (it must be null).", class_name_, key));
    }
  }
}

void ConfigReader::require_default(const std::string& key, const json& off_value) const {
  const json* value = find(key);
  if (value == nullptr || value->is_null() || *value == off_value) return;
  throw NotImplementedError(fmt::format("{} config key '{}' is not supported by minidl (it must be {}); received {}.",
                                        class_name_, key, off_value.dump(), value->dump()));
}

void ConfigReader::allow_only(std::set<std::string> keys) const {
  for (const auto& [key, value] : config_.items()) {
    if (!keys.count(key)) {
      throw ValueError(fmt::format("{} config has an unexpected key '{}'; expected only: {}.", class_name_, key,
                                   fmt::join(keys, ", ")));
    }
  }
}

void ConfigReader::reject_unread() const {
  json unknown = json::object();
  for (const auto& [key, value] : config_.items()) {
    if (!read_.count(key)) unknown[key] = value;
  }
  if (!unknown.empty()) throw ValueError("Argument(s) not recognized: " + python_repr(unknown));
}

void ConfigReader::require_float32_dtype(const std::string& what) const {
  read_.insert("dtype");
  auto dtype = config_.find("dtype");
  if (dtype != config_.end() && !dtype->is_null() && !(dtype->is_string() && *dtype == "float32")) {
    throw NotImplementedError(fmt::format("{} config key 'dtype' must be null or \"float32\" ({}); received {}.",
                                          class_name_, what, dtype->dump()));
  }
}

std::string ConfigReader::dtype() const {
  read_.insert("dtype");
  auto it = config_.find("dtype");
  if (it == config_.end() || it->is_null()) return "float32";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("config") && (*it)["config"].contains("name") &&
      (*it)["config"]["name"].is_string()) {
    return (*it)["config"]["name"].get<std::string>();
  }
  throw TypeError(fmt::format("{} config key 'dtype' must be a string or a DTypePolicy object; received {}.",
                              class_name_, it->dump()));
}

void ConfigReader::throw_mistyped(const std::string& key, const char* expected, const json& value) const {
  throw TypeError(fmt::format("{} config key '{}' must be {}; received {}.", class_name_, key, expected, value.dump()));
}

void ConfigReader::throw_missing(const std::string& key, const char* expected) const {
  throw ValueError(fmt::format("{} config is missing the required key '{}' ({}).", class_name_, key, expected));
}

}  // namespace minidl

#pragma once
// Reading the golden fixtures that real Keras wrote (tests/data/keras/*.h5, made by
// tools/keras_reference/generate_fixtures.py; the format is in tools/keras_reference/README.md).
//
//   kf::FixtureFile file("layers.h5");              // from the source tree's tests/data/keras
//   for (const std::string& name : file.cases()) {
//     md::json config = file.json_attribute(name, "config");
//     std::vector<md::Tensor> inputs = file.tensors(name + "/inputs");
//   }
//   kf::check_close(got, file.tensor(name + "/outputs/0"), kf::kTolerance, "output 0");
//
// Only the HDF5 C library and minidl's own types: the tests need no Python.
#include <minidl/minidl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace md = minidl;

namespace kf {

// The folder holding the fixture files (a compile definition: the source tree's tests/data/keras).
std::string fixture_dir();

// Forward outputs and gradients must agree within this, relative: |a - b| <= tol * max(1, |b|).
inline constexpr double kTolerance = 1e-5;

class FixtureFile {
 public:
  // Opens fixture_dir()/file_name read-only; throws std::runtime_error naming the path when it
  // cannot be opened.
  explicit FixtureFile(const std::string& file_name);
  ~FixtureFile();
  FixtureFile(const FixtureFile&) = delete;
  FixtureFile& operator=(const FixtureFile&) = delete;

  const std::string& path() const { return path_; }
  // The names of the root's groups (one per case), in name order.
  std::vector<std::string> cases() const;
  // Whether a group or dataset exists at `path` (e.g. "Dense.units3_tanh/output_masks/0").
  bool exists(const std::string& path) const;
  // A string attribute of the object at `path` ("" or "/" for the file itself).
  bool has_attribute(const std::string& path, const std::string& name) const;
  std::string attribute(const std::string& path, const std::string& name) const;
  md::json json_attribute(const std::string& path, const std::string& name) const;

  // A dataset as a tensor: float32 for floating-point data, int32 for integer data (masks
  // are stored as uint8 and come back int32: use as_bool_mask).
  md::Tensor tensor(const std::string& path) const;
  // A dataset's values as doubles, and its shape.
  std::vector<double> doubles(const std::string& path) const;
  // The datasets "0", "1", ... of the group at `path`: `size` entries (or, with size -1, one
  // more than the largest index present), undefined where an index is absent. An absent group
  // gives undefined entries.
  std::vector<md::Tensor> tensors(const std::string& path, int64_t size = -1) const;

 private:
  std::string path_;
  int64_t file_ = -1;  // hid_t
};

// Entry `index` of a stacked dataset (its first axis): optimizer and metric fixtures store one
// row per step, e.g. weights (steps + 1, 3, 4) -> row(weights, 2) of shape (3, 4).
md::Tensor row(const md::Tensor& stacked, int64_t index);

// A JSON attribute holding a list of strings (variable paths, names).
std::vector<std::string> string_list(const FixtureFile& file, const std::string& path, const std::string& name);

// A bool mask from a stored uint8/int32 one (undefined stays undefined).
md::Tensor as_bool_mask(const md::Tensor& stored);

// Element-wise |actual - expected| <= tolerance * max(1, |expected|); an infinite expected value
// must be matched exactly and a NaN by a NaN. Reports (through Catch2) the number of
// mismatches and the first few, prefixed by `what`; returns whether all matched.
bool check_close(const md::Tensor& actual, const md::Tensor& expected, double tolerance, const std::string& what);

// "case <name> of <file> (<description>; Keras <version> on <backend>)", for INFO.
std::string describe(const FixtureFile& file, const std::string& name);

// The scalar the fixtures differentiate: sum_i sum(outputs[i] * cotangents[i]).
md::Tensor weighted_sum(const std::vector<md::Tensor>& outputs, const std::vector<md::Tensor>& cotangents);

// Variables against Keras's (an optimizer's variables, a model's weights): the same count, each
// with Keras's path (when `paths` is not empty) and its value within `tolerance` (check_close).
// `what` prefixes the failures.
bool check_variables(const std::vector<md::Variable>& actual, const std::vector<std::string>& paths,
                     const std::vector<md::Tensor>& expected, double tolerance, const std::string& what);

// A config minidl writes against Keras's: the same JSON values (same_json); a failure shows the
// JSON patch from Keras's to minidl's. Returns whether they matched.
bool check_same_config(const md::json& minidl, const md::json& keras, const std::string& what = "config");

// The case names of `file`, REQUIREd non-empty: a fixture test that loads no case fails.
std::vector<std::string> required_cases(const FixtureFile& file);

// An object (optimizer, schedule, loss, metric) from Keras's serialized `config`: it must have
// Keras's class name and serialize back to `config` (check_same_config).
//   auto opt = kf::round_trip<md::optim::Optimizer>(config, "Adam", md::optim::deserialize, md::optim::serialize);
template <class T>
std::shared_ptr<T> round_trip(const md::json& config, const std::string& class_name,
                              std::shared_ptr<T> (*deserialize)(const md::json&), md::json (*serialize)(const T&)) {
  std::shared_ptr<T> object = deserialize(config);
  if (!object) throw std::runtime_error("deserialize gave no object for " + config.dump());
  if (object->class_name() != class_name) {
    throw std::runtime_error("deserialize gave a " + object->class_name() + " for Keras's " + class_name);
  }
  check_same_config(serialize(*object), config);
  return object;
}

// Opens `file_name`, requires it to hold cases written by Keras `keras_version`, and runs
// check(file, case) on every case in a DYNAMIC_SECTION of its own; a file without cases fails.
void for_each_case(const std::string& file_name,
                   const std::function<void(const FixtureFile& file, const std::string& name)>& check,
                   const std::string& keras_version = "3.15.1");

// The same JSON values regardless of key order (minidl writes Keras's order, but the check is
// about content).
bool same_json(const md::json& a, const md::json& b);

}  // namespace kf

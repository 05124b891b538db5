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
#include <memory>
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

// A bool mask from a stored uint8/int32 one (undefined stays undefined).
md::Tensor as_bool_mask(const md::Tensor& stored);

// Element-wise |actual - expected| <= tolerance * max(1, |expected|); an infinite expected value
// must be matched exactly and a NaN by a NaN. Reports (through Catch2) the number of
// mismatches and the first few, prefixed by `what`; returns whether all matched.
bool check_close(const md::Tensor& actual, const md::Tensor& expected, double tolerance, const std::string& what);

// The same JSON values regardless of key order (minidl writes Keras's order, but the check is
// about content).
bool same_json(const md::json& a, const md::json& b);

}  // namespace kf

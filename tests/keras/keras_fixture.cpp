#include "keras/keras_fixture.h"

#include <hdf5.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <utility>

#ifndef MINIDL_KERAS_FIXTURE_DIR
#error "MINIDL_KERAS_FIXTURE_DIR must name the source tree's tests/data/keras (tests/CMakeLists.txt)"
#endif

namespace kf {
namespace {

// An owned HDF5 identifier.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw std::runtime_error("Keras fixture " + file + ": " + what);
}

std::string object_path(const std::string& path) { return path.empty() ? "/" : path; }

// Whether every link along `path` exists (H5Lexists fails on a missing intermediate group).
bool link_exists(hid_t file, const std::string& path) {
  if (path.empty() || path == "/") return true;
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    const std::string prefix = path.substr(0, slash);
    if (!prefix.empty() && H5Lexists(file, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

}  // namespace

std::string fixture_dir() { return MINIDL_KERAS_FIXTURE_DIR; }

FixtureFile::FixtureFile(const std::string& file_name) : path_(fixture_dir() + "/" + file_name) {
  // HDF5 would print its own error stack; the exception below says what failed.
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  file_ = H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file_ < 0) fail(path_, "cannot be opened (regenerate with tools/keras_reference/generate_fixtures.sh)");
}

FixtureFile::~FixtureFile() {
  if (file_ >= 0) H5Fclose(file_);
}

std::vector<std::string> FixtureFile::cases() const {
  // One pass over the root's links in name order (looking names up by index costs a pass each).
  struct Listing {
    std::vector<std::string> names;
  } listing;
  const herr_t status = H5Literate(
      file_, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t group, const char* name, const H5L_info_t*, void* data) -> herr_t {
        H5O_info_t object;
        if (H5Oget_info_by_name(group, name, &object, H5P_DEFAULT) < 0) return -1;
        if (object.type == H5O_TYPE_GROUP) static_cast<Listing*>(data)->names.emplace_back(name);
        return 0;
      },
      &listing);
  if (status < 0) fail(path_, "cannot list the root group");
  return listing.names;
}

bool FixtureFile::exists(const std::string& path) const { return link_exists(file_, path); }

bool FixtureFile::has_attribute(const std::string& path, const std::string& name) const {
  if (!exists(path)) return false;
  return H5Aexists_by_name(file_, object_path(path).c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

std::string FixtureFile::attribute(const std::string& path, const std::string& name) const {
  const std::string where = object_path(path) + " attribute " + name;
  if (!has_attribute(path, name)) fail(path_, where + " is missing");
  Handle attr(H5Aopen_by_name(file_, object_path(path).c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  Handle type(H5Aget_type(attr.get()), H5Tclose);
  if (!attr.valid() || !type.valid() || H5Tget_class(type.get()) != H5T_STRING) fail(path_, where + " is not a string");
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle memtype(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(memtype.get(), H5T_VARIABLE);
    char* text = nullptr;
    if (H5Aread(attr.get(), memtype.get(), &text) < 0) fail(path_, where + " cannot be read");
    std::string out = text ? text : "";
    H5free_memory(text);
    return out;
  }
  // Fixed-length text (h5py writes it null-padded, without a terminator): read into one more
  // byte, so that HDF5's null-terminated memory type keeps every character.
  const size_t size = H5Tget_size(type.get());
  std::string out(size + 1, '\0');
  Handle memtype(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(memtype.get(), size + 1);
  if (H5Aread(attr.get(), memtype.get(), out.data()) < 0) fail(path_, where + " cannot be read");
  out.resize(std::min(out.size(), out.find('\0')));
  return out;
}

md::json FixtureFile::json_attribute(const std::string& path, const std::string& name) const {
  const std::string text = attribute(path, name);
  try {
    return md::json::parse(text);
  } catch (const std::exception& e) {
    fail(path_, object_path(path) + " attribute " + name + " is not JSON: " + e.what());
  }
}

namespace {

struct RawDataset {
  md::Shape shape;
  std::vector<double> values;
  bool integer = false;
};

RawDataset read_dataset(hid_t file, const std::string& file_path, const std::string& path) {
  if (!link_exists(file, path)) fail(file_path, "dataset " + path + " is missing");
  Handle dataset(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dataset.valid()) fail(file_path, path + " is not a dataset");
  Handle space(H5Dget_space(dataset.get()), H5Sclose);
  Handle type(H5Dget_type(dataset.get()), H5Tclose);
  const int ndims = H5Sget_simple_extent_ndims(space.get());
  if (ndims < 0) fail(file_path, path + ": unreadable shape");
  std::vector<hsize_t> dims(static_cast<size_t>(ndims));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  RawDataset out;
  size_t count = 1;
  for (hsize_t d : dims) {
    out.shape.push_back(static_cast<int64_t>(d));
    count *= static_cast<size_t>(d);
  }
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) fail(file_path, path + ": neither float nor integer data");
  out.integer = cls == H5T_INTEGER;
  out.values.resize(count);
  // HDF5 converts float32, int32 and uint8 to double exactly.
  if (count > 0 && H5Dread(dataset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.values.data()) < 0) {
    fail(file_path, path + " cannot be read");
  }
  return out;
}

}  // namespace

md::Tensor FixtureFile::tensor(const std::string& path) const {
  const RawDataset raw = read_dataset(file_, path_, path);
  std::vector<float> values(raw.values.begin(), raw.values.end());
  return md::Tensor::from_vector(values, raw.shape, raw.integer ? md::DType::int32 : md::DType::float32);
}

std::vector<double> FixtureFile::doubles(const std::string& path) const { return read_dataset(file_, path_, path).values; }

std::vector<md::Tensor> FixtureFile::tensors(const std::string& path, int64_t size) const {
  std::vector<md::Tensor> out;
  if (!exists(path)) return std::vector<md::Tensor>(static_cast<size_t>(std::max<int64_t>(size, 0)));
  if (size < 0) {
    size = 0;
    while (exists(path + "/" + std::to_string(size))) ++size;
    // Later indices may follow a gap (e.g. grad_inputs of an integer input 0).
    for (int64_t probe = size; probe < size + 8; ++probe) {
      if (exists(path + "/" + std::to_string(probe))) size = probe + 1;
    }
  }
  for (int64_t i = 0; i < size; ++i) {
    const std::string entry = path + "/" + std::to_string(i);
    out.push_back(exists(entry) ? tensor(entry) : md::Tensor());
  }
  return out;
}

md::Tensor row(const md::Tensor& stacked, int64_t index) {
  REQUIRE(stacked.defined());
  REQUIRE(stacked.ndim() >= 1);
  REQUIRE(index >= 0);
  REQUIRE(index < stacked.dim(0));
  const md::Shape shape(stacked.shape().begin() + 1, stacked.shape().end());
  const int64_t size = stacked.size() / stacked.dim(0);
  const std::vector<float> all = stacked.to_vector();
  const std::vector<float> values(all.begin() + index * size, all.begin() + (index + 1) * size);
  return md::Tensor::from_vector(values, shape, stacked.dtype());
}

std::vector<std::string> string_list(const FixtureFile& file, const std::string& path, const std::string& name) {
  const md::json list = file.json_attribute(path, name);
  REQUIRE(list.is_array());
  std::vector<std::string> out;
  for (const md::json& entry : list) out.push_back(entry.get<std::string>());
  return out;
}

md::Tensor as_bool_mask(const md::Tensor& stored) {
  if (!stored.defined()) return stored;
  return md::Tensor::from_vector(stored.to_vector(), stored.shape(), md::DType::bool_);
}

bool check_close(const md::Tensor& actual, const md::Tensor& expected, double tolerance, const std::string& what) {
  INFO(what);
  REQUIRE(expected.defined());
  if (!actual.defined()) {
    FAIL_CHECK(what << ": minidl gives no tensor; Keras gives shape " << md::shape_to_string(expected.shape()));
    return false;
  }
  if (actual.shape() != expected.shape()) {
    FAIL_CHECK(what << ": shape " << md::shape_to_string(actual.shape()) << ", Keras "
                    << md::shape_to_string(expected.shape()));
    return false;
  }
  const std::vector<float> a = actual.to_vector();
  const std::vector<float> e = expected.to_vector();
  size_t mismatches = 0;
  double worst = 0.0;
  std::ostringstream first;
  for (size_t i = 0; i < a.size(); ++i) {
    const double x = a[i], y = e[i];
    bool ok;
    if (std::isnan(y)) {
      ok = std::isnan(x);
    } else if (std::isinf(y)) {
      ok = x == y;
    } else {
      const double error = std::fabs(x - y) / std::max(1.0, std::fabs(y));
      ok = error <= tolerance;  // false for a NaN or inf x
      if (std::isfinite(error)) worst = std::max(worst, error);
    }
    if (!ok && ++mismatches <= 5) first << "\n  [" << i << "] minidl " << x << ", Keras " << y;
  }
  if (mismatches > 0) {
    FAIL_CHECK(what << ": " << mismatches << " of " << a.size() << " elements differ by more than " << tolerance
                    << " * max(1, |Keras|) (largest relative error " << worst << "):" << first.str());
  }
  return mismatches == 0;
}

std::string describe(const FixtureFile& file, const std::string& name) {
  return "case " + name + " of " + file.path() + " (" + file.attribute(name, "description") + "; Keras " +
         file.attribute(name, "keras_version") + " on " + file.attribute(name, "backend") + ")";
}

md::Tensor weighted_sum(const std::vector<md::Tensor>& outputs, const std::vector<md::Tensor>& cotangents) {
  md::Tensor total;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const md::Tensor term = md::ops::sum(md::ops::multiply(outputs[i], cotangents[i]));
    total = total.defined() ? md::ops::add(total, term) : term;
  }
  return total;
}

bool check_variables(const std::vector<md::Variable>& actual, const std::vector<std::string>& paths,
                     const std::vector<md::Tensor>& expected, double tolerance, const std::string& what) {
  std::vector<std::string> actual_paths;
  for (const md::Variable& v : actual) actual_paths.push_back(v.path());
  INFO(what << ": minidl's variables [" << fmt::format("{}", fmt::join(actual_paths, ", ")) << "]");
  if (actual.size() != expected.size()) {
    FAIL_CHECK(what << ": minidl has " << actual.size() << " variables, Keras " << expected.size());
    return false;
  }
  bool ok = true;
  for (size_t j = 0; j < actual.size(); ++j) {
    const std::string label = what + " variable " + std::to_string(j) + " (" + actual[j].path() + ")";
    if (!paths.empty() && actual[j].path() != paths.at(j)) {
      FAIL_CHECK(label << ": Keras's path is " << paths[j]);
      ok = false;
    }
    ok = check_close(actual[j].value(), expected[j], tolerance, label) && ok;
  }
  return ok;
}

bool check_same_config(const md::json& minidl, const md::json& keras, const std::string& what) {
  const bool same = same_json(minidl, keras);
  if (!same) {
    FAIL_CHECK(what << " differs from Keras's: JSON patch from Keras's to minidl's "
                    << nlohmann::json::diff(nlohmann::json(keras), nlohmann::json(minidl)).dump()
                    << "\n  Keras's: " << keras.dump() << "\n  minidl's: " << minidl.dump());
  }
  return same;
}

std::vector<std::string> required_cases(const FixtureFile& file) {
  const std::vector<std::string> names = file.cases();
  INFO("fixture file " << file.path());
  REQUIRE_FALSE(names.empty());
  return names;
}

void for_each_case(const std::string& file_name,
                   const std::function<void(const FixtureFile& file, const std::string& name)>& check,
                   const std::string& keras_version) {
  const FixtureFile file(file_name);
  CHECK(file.attribute("", "keras_version") == keras_version);
  for (const std::string& name : required_cases(file)) {
    DYNAMIC_SECTION(name) { check(file, name); }
  }
}

bool same_json(const md::json& a, const md::json& b) { return nlohmann::json(a) == nlohmann::json(b); }

}  // namespace kf

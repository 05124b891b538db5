#include "minidl/models/detail/hdf5_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "minidl/core/error.h"
#include "minidl/core/shape.h"
#include "minidl/core/read_limits.h"
#include "minidl/models/weights_h5.h"

namespace minidl {
namespace {
namespace h5limits {

std::mutex settings_mutex;
Hdf5ReadLimits settings;

// A positive number from the environment, or 0.
double from_environment(const char* name) {
  const char* text = std::getenv(name);
  if (!text || !*text) return 0;
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  return end && *end == '\0' && value > 0 ? value : 0;
}

}  // namespace h5limits
}  // namespace

void set_hdf5_read_limits(const Hdf5ReadLimits& limits) {
  if (limits.seconds < 0 || limits.memory_bytes < 0) {
    throw ValueError(fmt::format("HDF5 read limits must be positive (or 0 for the default). Received: seconds={}, "
                                 "memory_bytes={}",
                                 limits.seconds, limits.memory_bytes));
  }
  const std::lock_guard<std::mutex> lock(h5limits::settings_mutex);
  h5limits::settings = limits;
}

Hdf5ReadLimits hdf5_read_limits() {
  const std::lock_guard<std::mutex> lock(h5limits::settings_mutex);
  return h5limits::settings;
}

}  // namespace minidl

namespace minidl::detail::hdf5 {

std::recursive_mutex& library_lock() {
  static std::recursive_mutex mutex;
  return mutex;
}

ProcessLimits read_limits(uint64_t file_bytes) {
  const Hdf5ReadLimits set = hdf5_read_limits();
  ProcessLimits out;
  out.seconds = set.seconds > 0 ? set.seconds : h5limits::from_environment("MINIDL_HDF5_READ_SECONDS");
  if (out.seconds <= 0) out.seconds = 20.0 + static_cast<double>(file_bytes >> 26);
  out.memory_bytes = set.memory_bytes;
  if (out.memory_bytes <= 0) {
    out.memory_bytes = static_cast<int64_t>(h5limits::from_environment("MINIDL_HDF5_READ_MEMORY_MB") * (1 << 20));
  }
  if (out.memory_bytes <= 0) {
    constexpr int64_t kBase = int64_t{256} << 20;
    const uint64_t wanted = std::min<uint64_t>(file_bytes, uint64_t{1} << 60) * 4 + kBase;
    out.memory_bytes = static_cast<int64_t>(std::min<uint64_t>(wanted, static_cast<uint64_t>(read_allocation_cap()) + kBase));
  }
  return out;
}

void bounded_read(const std::string& prefix, uint64_t file_bytes, const std::function<void(ChildWriter&)>& child,
                  const std::function<void(ParentReader&)>& parent) {
  const bool in_process = hdf5_read_limits().in_process || h5limits::from_environment("MINIDL_HDF5_READ_IN_PROCESS") > 0;
  // Every read of the child turns libhdf5's failures into exceptions, not stderr prints.
  const auto silenced_child = [&](ChildWriter& out) {
    silence_errors();
    child(out);
  };
  run_bounded(prefix, read_limits(file_bytes), &library_lock(), in_process, silenced_child, parent);
}

uint64_t file_size(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<uint64_t>(size);
}

void send_pending(ChildWriter& out, const std::vector<Pending>& pending, const std::vector<Variable>& candidates) {
  for (const Pending& p : pending) {
    size_t index = 0;
    while (index < candidates.size() && candidates[index].id() != p.variable.id()) ++index;
    if (index == candidates.size()) throw std::logic_error("send_pending: a variable outside the candidates");
    out.u8(1);
    out.u64(index);
    out.u64(static_cast<uint64_t>(p.value.size()));
    out.bytes(p.value.data(), static_cast<size_t>(p.value.size()) * sizeof(float));
  }
  out.u8(0);
}

std::vector<Pending> receive_pending(ParentReader& in, const std::vector<Variable>& candidates) {
  std::vector<Pending> out;
  while (in.u8() == 1) {
    const uint64_t index = in.u64();
    const uint64_t count = in.u64();
    if (index >= candidates.size() || count != static_cast<uint64_t>(shape_size(candidates[index].shape()))) {
      throw std::logic_error("receive_pending: the reader process sent values that fit no variable");
    }
    const Variable& variable = candidates[index];
    // Straight from the pipe into the tensor the variable will take.
    Tensor value = Tensor::empty(variable.shape(), variable.dtype());
    in.bytes(value.mutable_data(), static_cast<size_t>(count) * sizeof(float));
    out.push_back({variable, std::move(value)});
  }
  return out;
}

void silence_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

std::string hdf5_reason() {
  std::vector<std::string> descriptions;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* error, void* data) -> herr_t {
        if (error->desc && *error->desc) static_cast<std::vector<std::string>*>(data)->push_back(error->desc);
        return 0;
      },
      &descriptions);
  std::string out;
  const size_t first = descriptions.size() > 2 ? descriptions.size() - 2 : 0;
  for (size_t i = descriptions.size(); i-- > first;) out += (out.empty() ? "" : "; ") + descriptions[i];
  return out;
}

namespace {

// Whether the current error stack says an allocation failed (a damaged file can ask libhdf5 for
// any size; the bounded child's memory limit refuses it).
bool allocation_failed() {
  bool failed = false;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* error, void* data) -> herr_t {
        if (error->maj_num == H5E_RESOURCE || error->min_num == H5E_CANTALLOC || error->min_num == H5E_NOSPACE) {
          *static_cast<bool*>(data) = true;
        }
        return 0;
      },
      &failed);
  return failed;
}

}  // namespace

[[noreturn]] void fail_io(const std::string& prefix, const std::string& what) {
  const std::string reason = hdf5_reason();
  const std::string message = fmt::format("{}{}{}", prefix, what, reason.empty() ? "" : " (HDF5: " + reason + ")");
  if (allocation_failed()) throw AllocationFailed(message);
  throw IOError(message);
}

Id checked(hid_t id, herr_t (*close)(hid_t), const std::string& prefix, const std::string& what) {
  if (id < 0) fail_io(prefix, what);
  return Id(id, close);
}

void check(herr_t status, const std::string& prefix, const std::string& what) {
  if (status < 0) fail_io(prefix, what);
}

std::string variable_repr(const Variable& v) {
  return fmt::format("<Variable path={}, shape={}, dtype={}>", v.path(), shape_to_string(v.shape()),
                     dtype_name(v.dtype()));
}

std::string dataset_dtype_name(hid_t dataset, hid_t type) {
  if (H5Aexists(dataset, "dtype") > 0) return "bfloat16";
  const size_t bytes = H5Tget_size(type);
  const std::string order = H5Tget_order(type) == H5T_ORDER_BE ? "big-endian " : "";
  switch (H5Tget_class(type)) {
    case H5T_FLOAT:
      return fmt::format("{}float{}", order, bytes * 8);
    case H5T_INTEGER:
      return fmt::format("{}{}int{}", order, H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", bytes * 8);
    case H5T_STRING:
      return "string";
    case H5T_ENUM:
      return "enum (bool)";
    case H5T_COMPOUND:
      return "compound";
    case H5T_OPAQUE:
      return fmt::format("opaque ({} bytes)", bytes);
    default:
      return "an unsupported HDF5 type";
  }
}

Found open_child(hid_t parent, const std::string& name, H5I_type_t kind, const std::string& full_path, Id& out,
                 const std::string& prefix) {
  const htri_t exists = H5Lexists(parent, name.c_str(), H5P_DEFAULT);
  if (exists < 0) fail_io(prefix, fmt::format("cannot look up '{}'", full_path));
  if (exists == 0) return Found::no;
  H5L_info_t info;
  check(H5Lget_info(parent, name.c_str(), &info, H5P_DEFAULT), prefix, fmt::format("cannot read link '{}'", full_path));
  if (info.type != H5L_TYPE_HARD) {
    throw ValueError(fmt::format("{}'{}' is a {}: Not allowed: H5 file with {}", prefix, full_path,
                                 info.type == H5L_TYPE_SOFT ? "soft link" : "external link",
                                 info.type == H5L_TYPE_SOFT ? "SoftLink" : "ExternalLink"));
  }
  Id object =
      checked(H5Oopen(parent, name.c_str(), H5P_DEFAULT), H5Oclose, prefix, fmt::format("cannot open '{}'", full_path));
  if (H5Iget_type(object.get()) != kind) {
    throw ValueError(fmt::format("{}Invalid H5 file, expected {} at '{}'", prefix,
                                 kind == H5I_GROUP ? "Group" : "Dataset", full_path));
  }
  out = std::move(object);
  return Found::yes;
}

std::optional<std::string> read_variable(hid_t group, const std::string& group_path, const std::string& key,
                                         const Variable& variable, std::vector<Pending>& pending,
                                         const std::string& prefix) {
  const std::string full = group_path + "/" + key;
  Id dataset;
  if (open_child(group, key, H5I_DATASET, full, dataset, prefix) == Found::no) {
    return fmt::format("Dataset '{}' is missing (for variable {}).", full, variable_repr(variable));
  }
  {
    // Keras refuses external and virtual datasets (safe_get_h5_dataset): their data lives in
    // other files.
    const Id dcpl = checked(H5Dget_create_plist(dataset.get()), H5Pclose, prefix,
                            fmt::format("cannot read the properties of dataset '{}'", full));
    const int external = H5Pget_external_count(dcpl.get());
    if (external < 0) fail_io(prefix, fmt::format("cannot read the properties of dataset '{}'", full));
    if (external > 0) throw ValueError(fmt::format("{}Not allowed: H5 file with external Dataset '{}'", prefix, full));
    if (H5Pget_layout(dcpl.get()) == H5D_VIRTUAL) {
      throw ValueError(fmt::format("{}Not allowed: H5 file with virtual Dataset '{}'", prefix, full));
    }
  }
  const Id type =
      checked(H5Dget_type(dataset.get()), H5Tclose, prefix, fmt::format("cannot read the type of '{}'", full));
  const H5T_class_t type_class = H5Tget_class(type.get());
  const bool want_float = variable.dtype() == DType::float32;
  const bool dtype_ok = H5Aexists(dataset.get(), "dtype") <= 0 &&
                        (want_float ? type_class == H5T_FLOAT && H5Tget_size(type.get()) == 4
                                    : variable.dtype() == DType::int32 && type_class == H5T_INTEGER);
  if (!dtype_ok) {
    return fmt::format("Dataset '{}' has dtype {}, but variable {} needs {}.", full,
                       dataset_dtype_name(dataset.get(), type.get()), variable_repr(variable),
                       want_float ? "float32" : "an integer dataset");
  }
  const Id space =
      checked(H5Dget_space(dataset.get()), H5Sclose, prefix, fmt::format("cannot read the shape of '{}'", full));
  Shape shape;
  const H5S_class_t space_class = H5Sget_simple_extent_type(space.get());
  if (space_class == H5S_SIMPLE) {
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0) fail_io(prefix, fmt::format("cannot read the shape of '{}'", full));
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    if (H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0) {
      fail_io(prefix, fmt::format("cannot read the shape of '{}'", full));
    }
    shape.assign(dims.begin(), dims.end());
  } else if (space_class != H5S_SCALAR) {
    return fmt::format("Dataset '{}' holds no data (null dataspace), but variable {} needs shape {}.", full,
                       variable_repr(variable), shape_to_string(variable.shape()));
  }
  if (shape != variable.shape()) {
    // KerasVariable.assign's text.
    return fmt::format(
        "The shape of the target variable and the shape of the target value in `variable.assign(value)` must match. "
        "variable.shape={}, Received: value.shape={}. Target variable: {} (dataset '{}')",
        shape_to_string(variable.shape()), shape_to_string(shape), variable_repr(variable), full);
  }
  const size_t count = static_cast<size_t>(shape_size(shape));
  std::vector<float> values(count);
  if (count > 0) {
    if (want_float) {
      check(H5Dread(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), prefix,
            fmt::format("cannot read dataset '{}'", full));
    } else {
      std::vector<int64_t> ints(count);
      check(H5Dread(dataset.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ints.data()), prefix,
            fmt::format("cannot read dataset '{}'", full));
      for (size_t i = 0; i < count; ++i) values[i] = static_cast<float>(ints[i]);
    }
  }
  pending.push_back({variable, Tensor::from_vector(values, shape, variable.dtype())});
  return std::nullopt;
}

Found open_group_path(hid_t file, const std::string& path, Id& out, std::string& missing, const std::string& prefix) {
  Id current;
  hid_t parent = file;
  std::string so_far;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t slash = path.find('/', start);
    const std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    so_far += (so_far.empty() ? "" : "/") + part;
    Id next;
    if (open_child(parent, part, H5I_GROUP, so_far, next, prefix) == Found::no) {
      missing = so_far;
      return Found::no;
    }
    current = std::move(next);
    parent = current.get();
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  out = std::move(current);
  return Found::yes;
}

void check_readable(const std::string& path, const std::string& prefix) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) throw IOError(prefix + "no such file.");
  if (std::filesystem::is_directory(status)) throw IOError(prefix + "it is a directory, not a file.");
}

Id open_file(const std::string& path, const std::string& prefix) {
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 < 0) fail_io(prefix, "cannot read the file");
  if (is_hdf5 == 0) throw IOError(prefix + "not an HDF5 file (no HDF5 signature found).");
  const Id fapl = checked(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, prefix, "cannot create file properties");
  // The file is replaced by rename, never written in place: no lock needed, and filesystems
  // without flock support still work.
  check(H5Pset_file_locking(fapl.get(), 0, 1), prefix, "cannot set file properties");
  check(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), prefix, "cannot set file properties");
  return checked(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose, prefix,
                 "the file is truncated or corrupted");
}

std::optional<std::string> string_attribute(hid_t object, const char* attr_name) {
  if (H5Aexists(object, attr_name) <= 0) return std::nullopt;
  const Id attr(H5Aopen(object, attr_name, H5P_DEFAULT), H5Aclose);
  if (!attr.valid()) return std::nullopt;
  const Id type(H5Aget_type(attr.get()), H5Tclose);
  if (!type.valid() || H5Tget_class(type.get()) != H5T_STRING) return std::nullopt;
  const Id space(H5Aget_space(attr.get()), H5Sclose);
  if (!space.valid() || H5Sget_simple_extent_npoints(space.get()) != 1) return std::nullopt;
  const Id memory(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_cset(memory.get(), H5Tget_cset(type.get()));
  if (H5Tis_variable_str(type.get()) > 0) {
    H5Tset_size(memory.get(), H5T_VARIABLE);
    char* text = nullptr;
    if (H5Aread(attr.get(), memory.get(), &text) < 0 || text == nullptr) return std::nullopt;
    std::string out = text;
    H5free_memory(text);
    return out;
  }
  const size_t size = H5Tget_size(type.get());
  // The type's size comes from the file, not from the data it holds.
  detail::charge_read_allocation(size + 1);
  std::string out(size + 1, '\0');
  H5Tset_size(memory.get(), size + 1);
  if (H5Aread(attr.get(), memory.get(), out.data()) < 0) return std::nullopt;
  out.resize(std::strlen(out.c_str()));
  return out;
}

namespace {

// The strings of a 1-d string array attribute (fixed or variable length); an empty array of any
// type is an empty list (Keras 2 writes [] as an empty float64 array). nullopt for anything else.
std::optional<std::vector<std::string>> string_array(hid_t attr) {
  const Id type(H5Aget_type(attr), H5Tclose);
  const Id space(H5Aget_space(attr), H5Sclose);
  if (!type.valid() || !space.valid()) return std::nullopt;
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  if (count < 0 || H5Sget_simple_extent_ndims(space.get()) > 1) return std::nullopt;
  std::vector<std::string> out;
  if (count == 0) return out;
  if (H5Tget_class(type.get()) != H5T_STRING) return std::nullopt;
  const size_t n = static_cast<size_t>(count);
  // Counts and sizes come from the file's headers: charged before anything is allocated.
  detail::charge_read_allocation(n, sizeof(char*));
  const Id memory(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_cset(memory.get(), H5Tget_cset(type.get()));
  if (H5Tis_variable_str(type.get()) > 0) {
    H5Tset_size(memory.get(), H5T_VARIABLE);
    std::vector<char*> texts(n, nullptr);
    if (H5Aread(attr, memory.get(), texts.data()) < 0) return std::nullopt;
    for (char* text : texts) {
      out.emplace_back(text ? text : "");
      if (text) H5free_memory(text);
    }
    return out;
  }
  // NumPy's fixed-length bytes ('S') arrays: null-padded, not terminated.
  const size_t size = H5Tget_size(type.get());
  detail::charge_read_allocation(n, size);
  H5Tset_size(memory.get(), size);
  H5Tset_strpad(memory.get(), H5T_STR_NULLPAD);
  std::vector<char> buffer(size * n);
  if (H5Aread(attr, memory.get(), buffer.data()) < 0) return std::nullopt;
  for (size_t i = 0; i < n; ++i) {
    const char* text = buffer.data() + i * size;
    out.emplace_back(text, strnlen(text, size));
  }
  return out;
}

}  // namespace

std::optional<std::vector<std::string>> string_list_attribute(hid_t object, const std::string& name,
                                                              const std::string& where, const std::string& prefix) {
  const auto read = [&](const std::string& attr_name) {
    const Id attr = checked(H5Aopen(object, attr_name.c_str(), H5P_DEFAULT), H5Aclose, prefix,
                            fmt::format("cannot open attribute '{}' of {}", attr_name, where));
    auto strings = string_array(attr.get());
    if (!strings) {
      throw ValueError(fmt::format("{}attribute '{}' of {} is not a list of strings.", prefix, attr_name, where));
    }
    return *strings;
  };
  if (H5Aexists(object, name.c_str()) > 0) return read(name);
  // save_attributes_to_hdf5_group splits lists too large for one object header into chunks.
  std::optional<std::vector<std::string>> out;
  for (int chunk = 0; H5Aexists(object, (name + std::to_string(chunk)).c_str()) > 0; ++chunk) {
    if (!out) out.emplace();
    for (std::string& s : read(name + std::to_string(chunk))) out->push_back(std::move(s));
  }
  return out;
}

Tensor read_tensor(hid_t parent, const std::string& path, const std::string& prefix) {
  const size_t slash = path.rfind('/');
  Id group;
  hid_t holder = parent;
  if (slash != std::string::npos) {
    std::string missing;
    if (open_group_path(parent, path.substr(0, slash), group, missing, prefix) == Found::no) {
      throw ValueError(fmt::format("{}group '{}' is missing.", prefix, missing));
    }
    holder = group.get();
  }
  Id dataset;
  const std::string leaf = slash == std::string::npos ? path : path.substr(slash + 1);
  if (open_child(holder, leaf, H5I_DATASET, path, dataset, prefix) == Found::no) {
    throw ValueError(fmt::format("{}dataset '{}' is missing.", prefix, path));
  }
  const Id type = checked(H5Dget_type(dataset.get()), H5Tclose, prefix, fmt::format("cannot read the type of '{}'", path));
  const H5T_class_t type_class = H5Tget_class(type.get());
  if (type_class != H5T_FLOAT && type_class != H5T_INTEGER) {
    throw ValueError(fmt::format("{}dataset '{}' holds {}, not numbers.", prefix, path,
                                 dataset_dtype_name(dataset.get(), type.get())));
  }
  const Id space =
      checked(H5Dget_space(dataset.get()), H5Sclose, prefix, fmt::format("cannot read the shape of '{}'", path));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail_io(prefix, fmt::format("cannot read the shape of '{}'", path));
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  const Shape shape(dims.begin(), dims.end());
  // The dataspace says how many elements there are, whatever the file holds: charged first.
  const int64_t elements = shape_size(shape);
  detail::charge_read_allocation(static_cast<uint64_t>(elements), sizeof(float));
  std::vector<float> values(static_cast<size_t>(elements));
  if (!values.empty()) {
    // HDF5 converts integers and doubles to float.
    check(H5Dread(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), prefix,
          fmt::format("cannot read dataset '{}'", path));
  }
  return Tensor::from_vector(values, shape);
}

}  // namespace minidl::detail::hdf5

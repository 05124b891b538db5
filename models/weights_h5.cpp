#include "minidl/models/weights_h5.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "minidl/core/error.h"
#include "minidl/core/naming.h"
#include "minidl/core/read_limits.h"
#include "minidl/models/config_io.h"
#include "minidl/models/detail/hdf5_file.h"
#include "minidl/models/detail/legacy_h5.h"
#include "minidl/models/detail/weights_image.h"
#include "minidl/models/model.h"
#include "minidl/models/sequential.h"

namespace minidl {
namespace {
// The library is compiled in unity batches: everything here lives in h5w so that no helper name
// meets another file's.
namespace h5w {

constexpr const char* kExtension = ".weights.h5";

// ---- HDF5 plumbing (models/detail/hdf5_file.h) --------------------------------------------------

using detail::hdf5::check;
using detail::hdf5::check_readable;
using detail::hdf5::checked;
using detail::hdf5::dataset_dtype_name;
using detail::hdf5::fail_io;
using detail::hdf5::Found;
using detail::hdf5::Id;
using detail::hdf5::open_file;
using detail::hdf5::open_group_path;
using detail::hdf5::Pending;
using detail::hdf5::read_variable;
using detail::hdf5::receive_pending;
using detail::hdf5::send_pending;
using detail::hdf5::silence_errors;
using detail::hdf5::string_attribute;

// ---- the tree Keras walks ------------------------------------------------------------------------

// One saveable of keras.src.saving.saving_lib._save_state: its group path ("" for the root)
// and its own variables in save_own_variables order.
struct Entry {
  std::string path;
  const Layer* layer = nullptr;
  std::vector<Variable> variables;
};

std::string vars_group(const std::string& path) { return path.empty() ? "vars" : path + "/vars"; }

// Keras's _trainable_variables + _non_trainable_variables of the layer itself: weights() lists
// those first and then its sub-layers' weights, which belong to the sub-layers' own groups.
std::vector<Variable> own_variables(const Layer& layer) {
  std::unordered_set<uint64_t> nested;
  for (const auto& sublayer : layer.sublayers()) {
    for (const Variable& v : sublayer->weights()) nested.insert(v.id());
  }
  std::vector<Variable> out;
  for (const Variable& v : layer.weights()) {
    if (!nested.count(v.id())) out.push_back(v);
  }
  return out;
}

// The saveables Keras visits below a layer. Functional and Sequential models: `model.layers`
// (Sequential's without its InputLayer). Other layers: Keras follows the Python attributes that
// hold sub-layers, named after the attribute; C++ has no attribute names, so minidl files a
// custom layer's tracked sub-layers under "layers" as a model's.
std::vector<std::shared_ptr<Layer>> children(const Layer& layer) {
  if (const auto* sequential = dynamic_cast<const Sequential*>(&layer)) return sequential->layers();
  if (const auto* model = dynamic_cast<const Model*>(&layer)) return model->layers();
  return layer.sublayers();
}

// _save_state / _save_container_state: the saveable's own group, then each child at
// "<path>/layers/<snake_case class name>" with _1, _2, ... for repeats in the same container.
// A saveable reached twice (a shared layer) is written once, at its first path; the repeat
// still takes its _N, as Keras names it before checking the visited set.
void collect(const Layer& layer, const std::string& path, std::unordered_set<const void*>& visited,
             std::vector<Entry>& out) {
  if (!visited.insert(layer.identity()).second) return;  // the same for every copy of the layer
  out.push_back({path, &layer, own_variables(layer)});
  if (const auto named = layer.saved_sublayers(); !named.empty()) {
    for (const auto& [name, child] : named) collect(*child, path.empty() ? name : path + "/" + name, visited, out);
    return;
  }
  const std::string container = path.empty() ? "layers" : path + "/layers";
  std::map<std::string, int> used_names;
  for (const auto& child : children(layer)) {
    std::string name = to_snake_case(child->class_name());
    if (auto it = used_names.find(name); it != used_names.end()) {
      name += "_" + std::to_string(++it->second);
    } else {
      used_names[name] = 0;
    }
    collect(*child, container + "/" + name, visited, out);
  }
}

std::vector<Entry> walk(const Layer& root) {
  std::vector<Entry> entries;
  std::unordered_set<const void*> visited;
  collect(root, "", visited, entries);
  return entries;
}

// The optimizer's name, for the group's "name" attribute: its variables' paths are
// "<optimizer name>/<variable name>".
std::string optimizer_name(const std::vector<Variable>& variables) {
  const std::string& path = variables.front().path();
  const size_t slash = path.find('/');
  return slash == std::string::npos ? std::string("optimizer") : path.substr(0, slash);
}

std::string python_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", '" : "'") + items[i] + "'";
  return out + "]";
}

// Layer.__repr__: "<Dense name=dense, built=True>".
std::string layer_repr(const Layer& layer) {
  return fmt::format("<{} name={}, built={}>", layer.class_name(), layer.name(), layer.built() ? "True" : "False");
}

// ---- writing -------------------------------------------------------------------------------------

void write_name_attribute(hid_t group, const std::string& name, const std::string& prefix) {
  // h5py stores a Python str attribute as a scalar variable-length UTF-8 string.
  const Id type = checked(H5Tcopy(H5T_C_S1), H5Tclose, prefix, "cannot create a string type");
  check(H5Tset_size(type.get(), H5T_VARIABLE), prefix, "cannot create a string type");
  check(H5Tset_cset(type.get(), H5T_CSET_UTF8), prefix, "cannot create a string type");
  const Id space = checked(H5Screate(H5S_SCALAR), H5Sclose, prefix, "cannot create a dataspace");
  const Id attr = checked(H5Acreate2(group, "name", type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                          prefix, "cannot create attribute 'name'");
  const char* text = name.c_str();
  check(H5Awrite(attr.get(), type.get(), &text), prefix, "cannot write attribute 'name'");
}

// One variable as dataset `key`: float32 as IEEE float32; int32 as int32, or int64 for the
// optimizer's integer `iteration` (Keras's dtype "int" is int64 on TensorFlow).
void write_dataset(hid_t group, const std::string& key, const Variable& variable, bool wide_ints,
                   const std::string& group_path, const std::string& prefix) {
  const std::string where = fmt::format("dataset '{}/{}' (variable '{}')", group_path, key, variable.path());
  if (variable.dtype() == DType::bool_) {
    throw TypeError(fmt::format("{}cannot write {}: bool variables are not supported.", prefix, where));
  }
  const Shape& shape = variable.shape();
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  const Id space = checked(
      shape.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
      H5Sclose, prefix, "cannot create the dataspace of " + where);
  const bool is_float = variable.dtype() == DType::float32;
  const hid_t file_type = is_float ? H5T_IEEE_F32LE : (wide_ints ? H5T_STD_I64LE : H5T_STD_I32LE);
  const Id dataset =
      checked(H5Dcreate2(group, key.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose,
              prefix, "cannot create " + where);
  const std::vector<float> values = variable.value().to_vector();
  if (values.empty()) return;
  herr_t status;
  if (is_float) {
    status = H5Dwrite(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  } else {
    // Integer variables keep exact integers in float storage.
    std::vector<int64_t> ints(values.size());
    for (size_t i = 0; i < values.size(); ++i) ints[i] = static_cast<int64_t>(std::llround(values[i]));
    status = H5Dwrite(dataset.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ints.data());
  }
  check(status, prefix, "cannot write " + where);
}

void write_group(hid_t file, hid_t link_props, const std::string& group_path, const std::string& name,
                 const std::vector<Variable>& variables, bool wide_ints, const std::string& prefix) {
  const Id group = checked(H5Gcreate2(file, group_path.c_str(), link_props, H5P_DEFAULT, H5P_DEFAULT), H5Gclose, prefix,
                           fmt::format("cannot create group '{}'", group_path));
  // Keras 3.6+ (saving_lib._save_state) tags every group with the saveable's name.
  write_name_attribute(group.get(), name, prefix);
  for (size_t i = 0; i < variables.size(); ++i) {
    write_dataset(group.get(), std::to_string(i), variables[i], wide_ints, group_path, prefix);
  }
}

uint32_t rotate_left(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

// Bob Jenkins' lookup3 hashlittle with seed 0: HDF5's metadata checksum (H5_checksum_lookup3).
uint32_t lookup3(const unsigned char* k, size_t length) {
  uint32_t a, b, c;
  a = b = c = 0xdeadbeef + static_cast<uint32_t>(length);
  const auto word = [](const unsigned char* p, size_t n) {
    uint32_t w = 0;
    for (size_t i = 0; i < n && i < 4; ++i) w |= static_cast<uint32_t>(p[i]) << (8 * i);
    return w;
  };
  while (length > 12) {
    a += word(k, 4);
    b += word(k + 4, 4);
    c += word(k + 8, 4);
    a -= c, a ^= rotate_left(c, 4), c += b;
    b -= a, b ^= rotate_left(a, 6), a += c;
    c -= b, c ^= rotate_left(b, 8), b += a;
    a -= c, a ^= rotate_left(c, 16), c += b;
    b -= a, b ^= rotate_left(a, 19), a += c;
    c -= b, c ^= rotate_left(b, 4), b += a;
    length -= 12;
    k += 12;
  }
  if (length == 0) return c;
  a += word(k, length);
  if (length > 4) b += word(k + 4, length - 4);
  if (length > 8) c += word(k + 8, length - 8);
  c ^= b, c -= rotate_left(b, 14);
  a ^= c, a -= rotate_left(c, 11);
  b ^= a, b -= rotate_left(a, 25);
  c ^= b, c -= rotate_left(b, 16);
  a ^= c, a -= rotate_left(c, 4);
  b ^= a, b -= rotate_left(a, 14);
  c ^= b, c -= rotate_left(b, 24);
  return c;
}

// HDF5 1.10's H5Fget_file_image clears the superblock's status flags in the copy (they say
// "open for writing") but keeps the checksum computed with them set, so every reader would
// reject the image. Superblocks of version 2 and up end in a checksum of the bytes before it:
// signature (8), version, offset size, length size, flags, four addresses.
void fix_superblock_checksum(std::string& image) {
  if (image.size() < 12 || static_cast<unsigned char>(image[8]) < 2) return;
  const size_t checksum_at = 12 + 4 * static_cast<size_t>(static_cast<unsigned char>(image[9]));
  if (image.size() < checksum_at + 4) return;
  const uint32_t sum = lookup3(reinterpret_cast<const unsigned char*>(image.data()), checksum_at);
  for (size_t i = 0; i < 4; ++i) image[checksum_at + i] = static_cast<char>((sum >> (8 * i)) & 0xff);
}

// The whole file, built in memory (HDF5's core driver) and returned as bytes, so that the
// atomic write of config_io (write_file_atomically) puts it on disk.
std::string build_image(const std::vector<Entry>& entries, const std::vector<Variable>* optimizer_variables,
                        const std::string& prefix) {
  static std::atomic<uint64_t> counter{0};
  const Id fapl = checked(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, prefix, "cannot create file properties");
  // The core driver grows its buffer by this much: room for all the data at once, so that a
  // large model is not copied from buffer to buffer as it grows.
  size_t data_bytes = 0;
  for (const Entry& entry : entries) {
    for (const Variable& v : entry.variables) data_bytes += static_cast<size_t>(v.value().size()) * 8;
  }
  const size_t increment = data_bytes + (size_t{1} << 20);
  check(H5Pset_fapl_core(fapl.get(), increment, /*backing_store=*/0), prefix, "cannot set up an in-memory file");
  // The 1.8 file format checksums the superblock and object headers, so a damaged file fails
  // to open instead of being read as garbage; h5py and every HDF5 since 1.8 read it.
  check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_V18), prefix, "cannot set the file format");
  // The name only identifies the in-memory file within HDF5.
  const std::string name = fmt::format("minidl-weights-{}-{}.h5", ::getpid(), counter++);
  Id file = checked(H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose, prefix,
                    "cannot create the HDF5 file");
  const Id link_props = checked(H5Pcreate(H5P_LINK_CREATE), H5Pclose, prefix, "cannot create link properties");
  check(H5Pset_create_intermediate_group(link_props.get(), 1), prefix, "cannot create link properties");
  for (const Entry& entry : entries) {
    write_group(file.get(), link_props.get(), vars_group(entry.path), entry.layer->name(), entry.variables, false,
                prefix);
  }
  if (optimizer_variables) {
    write_group(file.get(), link_props.get(), "optimizer/vars", optimizer_name(*optimizer_variables),
                *optimizer_variables, true, prefix);
  }
  check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), prefix, "cannot flush the HDF5 file");
  const ssize_t size = H5Fget_file_image(file.get(), nullptr, 0);
  if (size < 0) fail_io(prefix, "cannot get the HDF5 file image");
  std::string image(static_cast<size_t>(size), '\0');
  if (H5Fget_file_image(file.get(), image.data(), image.size()) != size) {
    fail_io(prefix, "cannot get the HDF5 file image");
  }
  file.reset();
  fix_superblock_checksum(image);
  return image;
}

void check_optimizer_variables(const std::vector<Variable>* optimizer_variables, const std::string& prefix,
                               const std::string& empty_context) {
  if (!optimizer_variables) return;
  if (optimizer_variables->empty()) {
    throw ValueError(prefix + empty_context +
                     "optimizer_variables is empty; pass the optimizer's variables() (iteration, learning_rate, "
                     "slots).");
  }
  for (size_t i = 0; i < optimizer_variables->size(); ++i) {
    if (!(*optimizer_variables)[i].defined()) {
      throw ValueError(fmt::format("{}optimizer variable {} is undefined.", prefix, i));
    }
  }
}

void save(const Layer& layer, const std::string& path, const std::vector<Variable>* optimizer_variables) {
  if (!path.ends_with(kExtension)) {
    throw ValueError(fmt::format("The filename must end in `.weights.h5`. Received: filepath={}", path));
  }
  const std::string prefix = fmt::format("Cannot save weights to '{}': ", path);
  if (!layer.built()) {
    throw ValueError(fmt::format(
        "{}You are saving a model that has not yet been built. Try building the model first by calling it on some "
        "data or by using `build()`. (layer '{}')",
        prefix, layer.name()));
  }
  check_optimizer_variables(optimizer_variables, prefix, "include_optimizer_variables is set but ");
  std::string image;
  {
    // Writing stays in this process: minidl writes well-formed files.
    const std::lock_guard<std::recursive_mutex> lock(detail::hdf5::library_lock());
    silence_errors();
    image = build_image(walk(layer), optimizer_variables, prefix);
  }
  write_file_atomically(path, image);
}

// ---- reading -------------------------------------------------------------------------------------

// One saveable's failure, as Keras collects them (error_msgs in load_weights_only).
struct Failure {
  std::string object;
  std::string message;
};

// Layer.load_own_variables for one saveable: the count check (_check_load_own_variables), then
// every dataset; nothing is assigned here.
std::optional<std::string> read_entry(hid_t file, const Entry& entry, std::vector<Pending>& pending,
                                      const std::string& prefix) {
  const std::string group_path = vars_group(entry.path);
  const std::string& name = entry.layer->name();
  std::vector<std::string> names;
  for (const Variable& v : entry.variables) names.push_back(v.name());
  const auto count_error = [&](size_t received) {
    return fmt::format("Layer '{}' expected {} variables, but received {} variables during loading. Expected: {}", name,
                       entry.variables.size(), received, python_list(names));
  };
  Id group;
  std::string missing;
  Found found = open_group_path(file, group_path, group, missing, prefix);
  if (found == Found::no && H5Lexists(file, "_layer_checkpoint_dependencies", H5P_DEFAULT) > 0) {
    // H5IOStore.get's fallback for files from tf.keras 2.13+, which named the layer list so.
    std::string legacy = group_path;
    for (size_t at = legacy.find("layers"); at != std::string::npos; at = legacy.find("layers", at + 30)) {
      legacy.replace(at, 6, "_layer_checkpoint_dependencies");
    }
    std::string ignored;
    found = open_group_path(file, legacy, group, ignored, prefix);
  }
  if (found == Found::no) {
    // Keras reads a missing group as an empty one, which only matters when the layer has state.
    if (entry.variables.empty()) return std::nullopt;
    return fmt::format("Group '{}' is missing from the file. {}", missing, count_error(0));
  }
  H5G_info_t info;
  check(H5Gget_info(group.get(), &info), prefix, fmt::format("cannot read group '{}'", group_path));
  if (info.nlinks != entry.variables.size()) return count_error(static_cast<size_t>(info.nlinks));
  for (size_t i = 0; i < entry.variables.size(); ++i) {
    if (auto error = read_variable(group.get(), group_path, std::to_string(i), entry.variables[i], pending, prefix)) {
      return error;
    }
  }
  return std::nullopt;
}

std::string loading_failure(const std::vector<Failure>& failures) {
  // saving_lib._raise_loading_failure.
  std::vector<std::string> objects;
  for (const Failure& f : failures) objects.push_back(f.object);
  std::string list = "[";
  for (size_t i = 0; i < objects.size(); ++i) list += (i ? ", " : "") + objects[i];
  list += "]";
  return fmt::format(
      "A total of {} objects could not be loaded. Example error message for object {}:\n\n{}\n\nList of objects that "
      "could not be loaded:\n{}",
      failures.size(), failures.front().object, failures.front().message, list);
}

void read_optimizer(hid_t file, const std::vector<Variable>& variables, std::vector<Pending>& pending,
                    const std::string& prefix) {
  const std::string group_path = "optimizer/vars";
  Id group;
  std::string missing;
  if (open_group_path(file, group_path, group, missing, prefix) == Found::no) {
    throw ValueError(fmt::format("{}the file has no optimizer state: group '{}' is missing.", prefix, missing));
  }
  H5G_info_t info;
  check(H5Gget_info(group.get(), &info), prefix, fmt::format("cannot read group '{}'", group_path));
  if (info.nlinks != variables.size()) {
    // BaseOptimizer.load_own_variables' text; Keras then skips the optimizer with a warning,
    // minidl refuses to resume from a state it cannot restore.
    throw ValueError(fmt::format(
        "{}Skipping variable loading for optimizer '{}', because it has {} variables whereas the saved optimizer has "
        "{} variables. {}",
        prefix, optimizer_name(variables), variables.size(), info.nlinks,
        variables.size() < info.nlinks
            ? "This is likely because the optimizer has not been called/built yet: build it with the model's "
              "trainable variables before loading."
            : "The optimizer does not match the one that was saved."));
  }
  for (size_t i = 0; i < variables.size(); ++i) {
    if (auto error = read_variable(group.get(), group_path, std::to_string(i), variables[i], pending, prefix)) {
      throw ValueError(fmt::format("{}optimizer '{}': {}", prefix, optimizer_name(variables), *error));
    }
  }
}

// Opens a file image held in memory (a `.keras` archive's model.weights.h5) read-only.
Id open_image(const std::string& image, const std::string& prefix) {
  static constexpr char kSignature[] = "\x89HDF\r\n\x1a\n";
  if (image.size() < 8 || image.compare(0, 8, kSignature, 8) != 0) {
    throw IOError(prefix + "not an HDF5 file (no HDF5 signature found).");
  }
  static std::atomic<uint64_t> counter{0};
  const Id fapl = checked(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, prefix, "cannot create file properties");
  check(H5Pset_fapl_core(fapl.get(), size_t{1} << 20, /*backing_store=*/0), prefix, "cannot set up an in-memory file");
  check(H5Pset_file_image(fapl.get(), const_cast<char*>(image.data()), image.size()), prefix,
        "cannot set up an in-memory file");
  const std::string name = fmt::format("minidl-weights-read-{}-{}.h5", ::getpid(), counter++);
  return checked(H5Fopen(name.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose, prefix,
                 "the file is truncated or corrupted");
}

// Reads and checks every dataset the layer (and the optimizer) needs; nothing is assigned.
std::vector<Pending> read_all(hid_t file, const std::vector<Entry>& entries,
                              const std::vector<Variable>* optimizer_variables, const std::string& prefix) {
  std::vector<Pending> pending;
  std::vector<Failure> failures;
  for (const Entry& entry : entries) {
    if (auto error = read_entry(file, entry, pending, prefix)) {
      failures.push_back({layer_repr(*entry.layer), *error});
    }
  }
  if (!failures.empty()) throw ValueError(prefix + loading_failure(failures));
  if (optimizer_variables) read_optimizer(file, *optimizer_variables, pending, prefix);
  return pending;
}

// Reads the file `open` opens in a bounded child process (models/detail/hdf5_file.h), then
// assigns every value: all of them were read and checked first, so nothing changes on an error.
void load_bounded(Layer& layer, const std::vector<Variable>* optimizer_variables, const std::string& prefix,
                  uint64_t file_bytes, const std::function<Id()>& open) {
  const std::vector<Entry> entries = walk(layer);
  std::vector<Variable> candidates;
  for (const Entry& entry : entries) candidates.insert(candidates.end(), entry.variables.begin(), entry.variables.end());
  if (optimizer_variables) candidates.insert(candidates.end(), optimizer_variables->begin(), optimizer_variables->end());
  std::vector<Pending> pending;
  detail::hdf5::bounded_read(
      prefix, file_bytes,
      [&](detail::ChildWriter& out) {
        const Id file = open();
        send_pending(out, read_all(file.get(), entries, optimizer_variables, prefix), candidates);
      },
      [&](detail::ParentReader& in) { pending = receive_pending(in, candidates); });
  for (const Pending& p : pending) p.variable.assign(p.value);
}

void load(Layer& layer, const std::string& path, const std::vector<Variable>* optimizer_variables) {
  const bool legacy = (path.ends_with(".h5") && !path.ends_with(kExtension)) || path.ends_with(".hdf5");
  if (!path.ends_with(kExtension) && !legacy) {
    // saving_api.load_weights' text, for the formats minidl reads.
    throw ValueError(fmt::format(
        "File format not supported: filepath={}. md::load_weights only supports `.weights.h5` files and legacy "
        "`.h5` files (Keras 3 also reads `.keras` files and Orbax checkpoints).",
        path));
  }
  if (legacy && optimizer_variables) {
    throw ValueError(fmt::format("Cannot load weights from '{}': a legacy `.h5` file's optimizer state loads with the "
                                 "whole model (md::load_model), not into given optimizer variables.",
                                 path));
  }
  const std::string prefix = fmt::format("Cannot load weights from '{}': ", path);
  if (!layer.built()) {
    throw ValueError(fmt::format(
        "{}You are loading weights into a model that has not yet been built. Try building the model first by calling "
        "it on some data or by using `build()`. (layer '{}')",
        prefix, layer.name()));
  }
  const detail::ReadAllocationScope scope(fmt::format("the weights file '{}'", path));
  if (legacy) return detail::load_legacy_h5_weights(layer, path);  // Keras 2's layout (models/detail/legacy_h5.h)
  check_optimizer_variables(optimizer_variables, prefix, "");
  check_readable(path, prefix);
  load_bounded(layer, optimizer_variables, prefix, detail::hdf5::file_size(path),
               [&] { return open_file(path, prefix); });
}

// ---- listing -------------------------------------------------------------------------------------

struct Listing {
  std::vector<WeightsFileItem> items;
  std::string error;  // set when the walk stopped on an unreadable object
};

// H5Lvisit's callback: C code calls it, so it reports failures in `data` and never throws.
herr_t list_link(hid_t group, const char* name, const H5L_info_t* info, void* data) {
  auto& listing = *static_cast<Listing*>(data);
  WeightsFileItem item;
  item.path = name;
  if (info->type == H5L_TYPE_SOFT || info->type == H5L_TYPE_EXTERNAL) {
    item.kind = info->type == H5L_TYPE_SOFT ? WeightsFileItem::Kind::soft_link : WeightsFileItem::Kind::external_link;
    listing.items.push_back(std::move(item));
    return 0;
  }
  const Id object(H5Oopen(group, name, H5P_DEFAULT), H5Oclose);
  if (!object.valid()) {
    listing.error = fmt::format("cannot open '{}'", name);
    return -1;
  }
  if (H5Iget_type(object.get()) == H5I_DATASET) {
    item.kind = WeightsFileItem::Kind::dataset;
    const Id type(H5Dget_type(object.get()), H5Tclose);
    const Id space(H5Dget_space(object.get()), H5Sclose);
    const int rank = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
    if (!type.valid() || rank < 0) {
      listing.error = fmt::format("cannot read dataset '{}'", name);
      return -1;
    }
    item.dtype = dataset_dtype_name(object.get(), type.get());
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    item.shape.assign(dims.begin(), dims.end());
  } else {
    item.name = string_attribute(object.get(), "name").value_or("");
  }
  listing.items.push_back(std::move(item));
  return 0;
}

std::vector<WeightsFileItem> list(const std::string& path) {
  const std::string prefix = fmt::format("Cannot read weights file '{}': ", path);
  const detail::ReadAllocationScope scope(fmt::format("the weights file '{}'", path));
  check_readable(path, prefix);
  std::vector<WeightsFileItem> items;
  detail::hdf5::bounded_read(
      prefix, detail::hdf5::file_size(path),
      [&](detail::ChildWriter& out) {
        const Id file = open_file(path, prefix);
        Listing listing;
        if (H5Lvisit(file.get(), H5_INDEX_NAME, H5_ITER_INC, list_link, &listing) < 0) {
          fail_io(prefix, listing.error.empty() ? std::string("cannot walk the file") : listing.error);
        }
        out.u64(listing.items.size());
        for (const WeightsFileItem& item : listing.items) {
          out.string(item.path);
          out.u8(static_cast<uint8_t>(item.kind));
          out.string(item.dtype);
          out.u64(item.shape.size());
          for (int64_t d : item.shape) out.u64(static_cast<uint64_t>(d));
          out.string(item.name);
        }
      },
      [&](detail::ParentReader& in) {
        const uint64_t count = in.u64();
        for (uint64_t i = 0; i < count; ++i) {
          WeightsFileItem item;
          item.path = in.string();
          item.kind = static_cast<WeightsFileItem::Kind>(in.u8());
          item.dtype = in.string();
          item.shape.resize(static_cast<size_t>(std::min<uint64_t>(in.u64(), 64)));
          for (int64_t& d : item.shape) d = static_cast<int64_t>(in.u64());
          item.name = in.string();
          items.push_back(std::move(item));
        }
      });
  std::sort(items.begin(), items.end(),
            [](const WeightsFileItem& a, const WeightsFileItem& b) { return a.path < b.path; });
  return items;
}

}  // namespace h5w
}  // namespace

void save_weights(const Layer& layer_or_model, const std::string& path, const SaveWeightsOptions& options) {
  h5w::save(layer_or_model, path, options.include_optimizer_variables ? &options.optimizer_variables : nullptr);
}

void save_weights(const Layer& layer_or_model, const std::string& path,
                  const std::vector<Variable>& optimizer_variables) {
  h5w::save(layer_or_model, path, &optimizer_variables);
}

void load_weights(Layer& layer_or_model, const std::string& path) { h5w::load(layer_or_model, path, nullptr); }

void load_weights(Layer& layer_or_model, const std::string& path, const std::vector<Variable>& optimizer_variables) {
  h5w::load(layer_or_model, path, &optimizer_variables);
}

std::vector<WeightsFileItem> list_weights_file(const std::string& path) { return h5w::list(path); }

Tensor read_hdf5_dataset(const std::string& path, const std::string& dataset) {
  const std::string prefix = fmt::format("Cannot read dataset '{}' of '{}': ", dataset, path);
  const detail::ReadAllocationScope scope(fmt::format("dataset '{}' of '{}'", dataset, path));
  h5w::check_readable(path, prefix);
  Tensor out;
  detail::hdf5::bounded_read(
      prefix, detail::hdf5::file_size(path),
      [&](detail::ChildWriter& writer) {
        const h5w::Id file = h5w::open_file(path, prefix);
        const Tensor value = detail::hdf5::read_tensor(file.get(), dataset, prefix);
        writer.u64(value.shape().size());
        for (int64_t d : value.shape()) writer.u64(static_cast<uint64_t>(d));
        writer.bytes(value.data(), static_cast<size_t>(value.size()) * sizeof(float));
      },
      [&](detail::ParentReader& in) {
        // The child checked the shape against the same cap; a parent tensor of the same size.
        Shape shape(static_cast<size_t>(std::min<uint64_t>(in.u64(), 64)));
        for (int64_t& d : shape) d = static_cast<int64_t>(in.u64());
        out = Tensor::empty(shape);
        in.bytes(out.mutable_data(), static_cast<size_t>(out.size()) * sizeof(float));
      });
  return out;
}

namespace detail {

std::string weights_file_image(const Layer& layer_or_model, const std::vector<Variable>* optimizer_variables,
                               const std::string& error_prefix) {
  h5w::check_optimizer_variables(optimizer_variables, error_prefix, "");
  const std::lock_guard<std::recursive_mutex> lock(hdf5::library_lock());
  h5w::silence_errors();
  return h5w::build_image(h5w::walk(layer_or_model), optimizer_variables, error_prefix);
}

void load_weights_file_image(Layer& layer_or_model, const std::string& image,
                             const std::vector<Variable>* optimizer_variables, const std::string& error_prefix) {
  h5w::check_optimizer_variables(optimizer_variables, error_prefix, "");
  h5w::load_bounded(layer_or_model, optimizer_variables, error_prefix, image.size(),
                    [&] { return h5w::open_image(image, error_prefix); });
}

std::optional<size_t> weights_file_image_optimizer_count(const std::string& image, const std::string& error_prefix) {
  std::optional<size_t> count;
  hdf5::bounded_read(
      error_prefix, image.size(),
      [&](ChildWriter& out) {
        const h5w::Id file = h5w::open_image(image, error_prefix);
        h5w::Id group;
        std::string missing;
        if (h5w::open_group_path(file.get(), "optimizer/vars", group, missing, error_prefix) == h5w::Found::no) {
          out.u8(0);
          return;
        }
        H5G_info_t info;
        h5w::check(H5Gget_info(group.get(), &info), error_prefix, "cannot read group 'optimizer/vars'");
        out.u8(1);
        out.u64(info.nlinks);
      },
      [&](ParentReader& in) {
        if (in.u8() == 1) count = static_cast<size_t>(in.u64());
      });
  return count;
}

}  // namespace detail

}  // namespace minidl

#pragma once
// Weights files in Keras 3's `.weights.h5` layout (model.save_weights / model.load_weights), so
// that weights move both ways between minidl and Keras for the same architecture.
//   md::save_weights(model, "model.weights.h5");
//   md::load_weights(fresh_model, "model.weights.h5");   // same architecture: same predictions
//
// The HDF5 tree is the one keras/src/saving/saving_lib.py (_save_state) writes:
//   /vars                              the root's own variables (none for a model), attr name
//   /layers/<snake_case class>[_N]/vars   each layer of model.layers, attr name = layer name,
//                                      datasets "0", "1", ...: own trainable then non-trainable
//   /layers/functional/layers/dense/vars  a nested model nests the same way
//   /optimizer/vars                    with include_optimizer_variables
// Groups are named after the class, not the layer name (`_1`, `_2` for repeats in one model), so
// a file fits any model with the same architecture whatever its layers are called. Layers
// without variables get an empty `vars` group, as Keras writes. Float variables are float32
// datasets, a 0-d variable a scalar dataspace; the optimizer's `iteration` is int64 (what
// Keras writes on its default TensorFlow backend).
//
// The file is built in memory and written atomically (a temporary file in the same directory,
// fsync, rename): the target is always the old file or the new one. It uses HDF5's 1.8 format,
// whose metadata is checksummed, so damage is detected; h5py and Keras read it. Loading reads
// and checks the whole file before assigning any variable: on any error nothing changes.
#include <string>
#include <vector>

#include "minidl/autograd/variable.h"
#include "minidl/layers/layer.h"

namespace minidl {

struct SaveWeightsOptions {
  // Also write /optimizer/vars/0.. from optimizer_variables (Keras writes them whenever the
  // model is compiled). ValueError when set with no variables.
  bool include_optimizer_variables = false;
  // optimizer.variables(): iteration, learning_rate, then the slots in build order.
  std::vector<Variable> optimizer_variables{};
};

// Writes the weights of a built layer or model to `path`, which must end in `.weights.h5`
// (Keras's ValueError otherwise). IOError when the file cannot be written.
//   md::save_weights(model, "ckpt.weights.h5",
//                    {.include_optimizer_variables = true, .optimizer_variables = opt.variables()});
void save_weights(const Layer& layer_or_model, const std::string& path, const SaveWeightsOptions& options = {});
// Shorthand for options {.include_optimizer_variables = true, .optimizer_variables = ...}.
//   md::save_weights(model, "ckpt.weights.h5", opt.variables());
void save_weights(const Layer& layer_or_model, const std::string& path,
                  const std::vector<Variable>& optimizer_variables);

// Reads a `.weights.h5` file written by minidl or Keras 3 into a built layer or model of the
// same architecture; /optimizer is ignored. A legacy `.h5`/`.hdf5` file (tf.keras 2's
// save_weights("x.h5") or model.save("x.h5")) loads into a model whose layers have the saved
// layers' names (models/detail/legacy_h5.h). IOError for a missing, unreadable, truncated or
// corrupted file; ValueError (Keras's texts) for a missing group, a variable count, shape or
// dtype that does not match. Groups the model does not use are ignored, as Keras ignores them.
//   md::load_weights(model, "model.weights.h5");
void load_weights(Layer& layer_or_model, const std::string& path);
// Also restores /optimizer/vars into optimizer_variables (build the optimizer first, e.g.
// opt.build(model.trainable_variables()), so that its slots exist). ValueError when the
// counts differ (Keras only warns and skips; minidl will not resume from half a state).
//   md::load_weights(model, "ckpt.weights.h5", opt.variables());
void load_weights(Layer& layer_or_model, const std::string& path, const std::vector<Variable>& optimizer_variables);

// One entry of a weights file, as `h5ls -r` shows it: for looking inside a file minidl or Keras
// wrote, e.g. when load_weights reports a missing group.
struct WeightsFileItem {
  enum class Kind { group, dataset, soft_link, external_link };
  std::string path;  // "layers/dense/vars/0", without the leading '/'
  Kind kind = Kind::group;
  std::string dtype{};  // datasets: NumPy's name ("float32", "int64"; "big-endian float32")
  Shape shape{};        // datasets: () for a scalar dataspace
  std::string name{};   // groups: their "name" attribute (the saved layer's name), if any
};
// Every link of the file in path order. IOError for files load_weights cannot open.
//   for (const auto& item : md::list_weights_file("model.weights.h5")) fmt::print("{}\n", item.path);
std::vector<WeightsFileItem> list_weights_file(const std::string& path);

// How reading one HDF5 file is bounded (issue 18). libhdf5 1.10 can loop for minutes or ask for
// gigabytes on a damaged file, so every reader here (load_weights, list_weights_file,
// read_hdf5_dataset, and load_model for `.keras` and legacy `.h5` files) runs libhdf5 in a
// child process and stops it past a time limit (IOError "reading it took longer than 20 s, ...")
// or a memory limit (MemoryError "reading it needed more than 256 MiB, ..."); a child that
// crashes is an IOError too. Each 0 field means: the environment variable
// (MINIDL_HDF5_READ_SECONDS, MINIDL_HDF5_READ_MEMORY_MB), else the default for the file: 20 s
// plus 1 s per 64 MiB of file, and 256 MiB plus 4 times the file's size (at most
// md::read_allocation_cap() + 256 MiB). The child costs about 8 ms per file read in a small
// program (bench/hdf5_read_bench: fork copies the page tables, so more in a larger process), and
// large files pay for crossing a pipe (a 96 MiB file: 310 ms against 160 ms in process).
//   md::set_hdf5_read_limits({.seconds = 120, .memory_bytes = int64_t{32} << 30});  // a 6 GiB file
struct Hdf5ReadLimits {
  double seconds = 0;
  int64_t memory_bytes = 0;  // address space the reading process may add
  // Read in this process, without a child or limits (for debugging, or where fork is not
  // wanted); also MINIDL_HDF5_READ_IN_PROCESS=1.
  bool in_process = false;
};
// ValueError for a negative limit.
void set_hdf5_read_limits(const Hdf5ReadLimits& limits);
Hdf5ReadLimits hdf5_read_limits();

// One numeric dataset of any HDF5 file ("x0", "model_weights/dense/dense/kernel:0") as a
// float32 tensor of its shape, integers and doubles converted: for looking inside files Keras
// wrote, and for test fixtures. IOError for a file that cannot be read; ValueError for a
// missing dataset or one that does not hold numbers.
//   md::Tensor x = md::read_hdf5_dataset("fixture_io.h5", "x0");
Tensor read_hdf5_dataset(const std::string& path, const std::string& dataset);

}  // namespace minidl

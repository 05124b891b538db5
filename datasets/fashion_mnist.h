#pragma once
// Fashion-MNIST (Zalando's 28x28 grey-scale clothing images, 10 classes), read from the gzip'd
// IDX files that Debian's `dataset-fashion-mnist` package installs in
// /usr/share/datasets/fashion-mnist, or from a directory of your own copy of them.
//
//   auto data = md::datasets::fashion_mnist::load();        // or load("/path/to/files")
//   md::Tensor x = md::ops::divide(data.x_train, 255.0f);   // scale pixels to [0, 1] yourself
//   // data.x_train: (60000, 28, 28), data.y_train: (60000,), x_test/y_test: 10000 samples
//
// Like keras.datasets.fashion_mnist.load_data(), pixels keep their raw values 0..255 (Keras
// returns uint8; minidl tensors are float32, so they are the same integers as floats) and
// labels are class indices 0..9 (as floats, what sparse_categorical_crossentropy takes).
// Every file is checked: the IDX magic number (2051 images, 2049 labels), the dimension fields,
// the data length against the header (a truncated or padded file is an error naming it),
// equal image and label counts, and labels in 0..9.
#include <cstdint>
#include <string>
#include <vector>

#include "minidl/core/tensor.h"

namespace minidl::datasets::fashion_mnist {

// Where Debian's dataset-fashion-mnist package puts the files.
inline constexpr const char* kDefaultDirectory = "/usr/share/datasets/fashion-mnist";

// The four files load() reads, each "<name>.gz" (an uncompressed "<name>" is read too).
inline constexpr const char* kTrainImages = "train-images-idx3-ubyte";
inline constexpr const char* kTrainLabels = "train-labels-idx1-ubyte";
inline constexpr const char* kTestImages = "t10k-images-idx3-ubyte";
inline constexpr const char* kTestLabels = "t10k-labels-idx1-ubyte";

struct Data {
  Tensor x_train;  // (60000, 28, 28), values 0..255
  Tensor y_train;  // (60000,), values 0..9
  Tensor x_test;   // (10000, 28, 28)
  Tensor y_test;   // (10000,)
};

// Reads the four files from `directory` ("" = kDefaultDirectory). A missing file is an
// IOError naming it and saying how to get it (`apt install dataset-fashion-mnist`, or pass
// the directory of your own copy); malformed files are IOErrors naming the file and the fault.
//   auto [x_train, y_train, x_test, y_test] = md::datasets::fashion_mnist::load();
Data load(const std::string& directory = "");

// The names of classes 0..9: "T-shirt/top", "Trouser", ..., "Ankle boot".
const std::vector<std::string>& class_names();

// One IDX image file (magic 2051: count, rows, cols, then count*rows*cols bytes) as a float
// tensor (count, rows, cols). gzip'd or plain; throws IOError naming the file on any fault.
//   md::Tensor images = md::datasets::fashion_mnist::read_idx_images("train-images-idx3-ubyte.gz");
Tensor read_idx_images(const std::string& path);
// One IDX label file (magic 2049: count, then count bytes) as a float tensor (count,).
Tensor read_idx_labels(const std::string& path);

}  // namespace minidl::datasets::fashion_mnist

#pragma once
// The eleven models of the interop check, built in minidl: the same names, layers and compile
// arguments as tools/keras_reference/fixtures/file_models.py builds in Keras (the demo's through
// examples/fashion_mnist_attention_model.h), and seeded data for them. Used by the interop
// writer (write_models.cpp) and by tests/keras, which checks that each builds the architecture
// of Keras's file for the same case.
#include <minidl/minidl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace interop {

namespace md = minidl;

inline constexpr int kEpochs = 2;
inline constexpr int64_t kBatchSize = 8;
inline constexpr int64_t kTrainSamples = 32;
inline constexpr int64_t kPredictSamples = 6;

struct Batch {
  std::vector<md::Tensor> x;
  md::Tensor y;
};

struct Case {
  std::string name;
  // Built and compiled, with fresh weights; a Sequential for Keras's Sequential cases.
  std::function<std::shared_ptr<md::Model>()> build;
  std::function<Batch(int64_t count, uint64_t seed)> data;
  // Trains with Dropout: the next training step draws masks no other framework reproduces, so
  // there is no step to compare (file_models.py's random_training).
  bool random_training = false;
};

// In file_models.py's order.
std::vector<Case> cases();

}  // namespace interop

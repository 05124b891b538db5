#pragma once
// The CNN of examples/cnn_fashion_mnist.cpp, shared with bench/cnn_step_bench.cpp so that the
// benchmark times exactly the model the example trains:
//
//   (28, 28, 1) -> Conv2D(32, 3x3, same) -> BatchNormalization -> relu -> MaxPooling2D(2)
//               -> Conv2D(64, 3x3, same) -> BatchNormalization -> relu -> MaxPooling2D(2)
//               -> Flatten -> Dropout(0.3) -> Dense(128, relu) -> Dropout(0.3) -> Dense(10)
//
// The convolutions have no bias (BatchNormalization's beta replaces it), as in Keras's own CNN
// examples. Adam with a cosine-decayed rate over `decay_steps` steps.
//
//   md::Sequential model = cnn_fashion_mnist::build_model();
//   cnn_fashion_mnist::compile_model(model, epochs * steps_per_epoch);
#include <minidl/minidl.h>

#include <algorithm>

namespace cnn_fashion_mnist {

namespace md = minidl;

inline md::Sequential build_model() {
  md::Sequential model({md::Input({28, 28, 1})}, "cnn_fashion_mnist");
  for (int64_t filters : {32, 64}) {  // Conv-BN-ReLU-Pool
    model.add(md::layers::Conv2D({.filters = filters, .kernel_size = {3}, .padding = "same", .use_bias = false}));
    model.add(md::layers::BatchNormalization(md::layers::BatchNormalizationOptions{}));
    model.add(md::layers::Activation({.activation = "relu"}));
    model.add(md::layers::MaxPooling2D({.pool_size = {2, 2}}));
  }
  model.add(md::layers::Flatten());
  model.add(md::layers::Dropout({.rate = 0.3f}));
  model.add(md::layers::Dense({.units = 128, .activation = "relu"}));
  model.add(md::layers::Dropout({.rate = 0.3f}));
  model.add(md::layers::Dense({.units = 10}));
  return model;
}

inline void compile_model(md::Sequential& model, int64_t decay_steps) {
  const md::optim::CosineDecay schedule(
      {.initial_learning_rate = 2e-3, .decay_steps = std::max<int64_t>(1, decay_steps), .alpha = 0.02});
  model.compile({.optimizer = md::optim::Adam({.learning_rate = schedule}),
                 .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true}),
                 .metrics = {"accuracy"}});
}

}  // namespace cnn_fashion_mnist

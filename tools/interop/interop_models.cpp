// The interop check's eleven models in minidl (interop_models.h); file_models.py is their
// Keras side.
#include "interop_models.h"

#include <algorithm>
#include <memory>

#include "fashion_mnist_attention_model.h"

namespace interop {
namespace {

namespace L = md::layers;

// Seeded data: every draw has its own seed, so a run writes the same files.
md::Tensor normal(const md::Shape& shape, uint64_t seed) { return md::random::normal(shape, 0.0f, 1.0f, seed); }

// Integers in [low, high) as a tensor of `dtype`.
md::Tensor integers(const md::Shape& shape, int64_t low, int64_t high, uint64_t seed, md::DType dtype) {
  std::vector<float> values = md::random::uniform(shape, 0.0f, 1.0f, seed).to_vector();
  for (float& v : values) v = static_cast<float>(low + std::min<int64_t>(high - low - 1, int64_t(v * float(high - low))));
  return md::Tensor::from_vector(values, shape, dtype);
}

md::Tensor one_hot(int64_t count, int64_t classes, uint64_t seed) {
  const std::vector<float> labels = integers({count}, 0, classes, seed, md::DType::float32).to_vector();
  std::vector<float> values(static_cast<size_t>(count * classes), 0.0f);
  for (int64_t i = 0; i < count; ++i) values[static_cast<size_t>(i * classes + int64_t(labels[size_t(i)]))] = 1.0f;
  return md::Tensor::from_vector(values, {count, classes});
}

std::shared_ptr<md::Model> sequential() {
  md::Sequential model({md::Input({6}, "features"), L::Dense({.units = 16, .activation = "relu", .name = "hidden"}),
                        L::LayerNormalization({.name = "norm"}),
                        L::Dense({.units = 8, .activation = "tanh", .use_bias = false, .name = "bottleneck"}),
                        L::Dense({.units = 4, .activation = "softmax", .name = "probs"})},
                       "sequential");
  model.compile({.optimizer = "adam", .loss = "categorical_crossentropy", .metrics = {"accuracy"}});
  return std::make_shared<md::Sequential>(model);  // a handle: the same model
}

std::shared_ptr<md::Model> functional_shared() {
  const md::Tensor left = md::Input({5}, "left");
  const md::Tensor right = md::Input({5}, "right");
  L::Dense shared({.units = 8, .activation = "tanh", .name = "shared"});
  const md::Tensor a = shared(left), b = shared(right);
  const md::Tensor summed = L::Add({.name = "sum"})({a, b});
  const md::Tensor joined = L::Concatenate({.name = "join"})({summed, a});
  const md::Tensor hidden = L::Dense({.units = 6, .activation = "sigmoid", .name = "mix"})(joined);
  md::Model model({left, right}, {L::Dense({.units = 2, .name = "out"})(hidden)}, "functional_shared");
  const md::optim::ExponentialDecay schedule({.initial_learning_rate = 0.02, .decay_steps = 3, .decay_rate = 0.8});
  model.compile({.optimizer = md::optim::Adam({.learning_rate = schedule}),
                 .loss = md::losses::Huber(),
                 .metrics = {"mae"}});
  return std::make_shared<md::Model>(model);  // a handle: the same model
}

std::shared_ptr<md::Model> attention() {
  md::Model model = fashion_mnist_attention::build_model();
  const md::optim::CosineDecay schedule({.initial_learning_rate = 2e-3, .decay_steps = 12, .alpha = 0.05});
  model.compile({.optimizer = md::optim::Adam({.learning_rate = schedule}),
                 .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true}),
                 .metrics = {"accuracy"}});
  return std::make_shared<md::Model>(model);  // a handle: the same model
}

std::shared_ptr<md::Model> optimizer_sgd() {
  md::Sequential model({md::Input({12}, "flat"), L::Reshape({.target_shape = {3, 4}, .name = "grid"}),
                        L::Dense({.units = 5, .activation = "sigmoid", .name = "per_row"}),
                        L::Flatten({.name = "flatten"}), L::Dense({.units = 2, .name = "out"})},
                       "optimizer_sgd");
  model.compile({.optimizer = md::optim::SGD({.learning_rate = 0.05f, .momentum = 0.9, .nesterov = true,
                                              .clipnorm = 1.0}),
                 .loss = "mse",
                 .metrics = {"mae"}});
  return std::make_shared<md::Sequential>(model);  // a handle: the same model
}

std::shared_ptr<md::Model> optimizer_adam() {
  const md::Tensor tokens = md::Input({7}, "tokens", md::DType::int32);
  md::Tensor h = L::Embedding({.input_dim = 20, .output_dim = 6, .mask_zero = true, .name = "embed"})(tokens);
  h = L::GlobalAveragePooling1D({.name = "pool"})(h);
  md::Model model(tokens, L::Dense({.units = 1, .activation = "sigmoid", .name = "score"})(h), "optimizer_adam");
  model.compile({.optimizer = md::optim::Adam({.learning_rate = 0.01f, .amsgrad = true, .global_clipnorm = 0.5}),
                 .loss = "binary_crossentropy",
                 .metrics = {"accuracy"}});
  return std::make_shared<md::Model>(model);  // a handle: the same model
}

std::shared_ptr<md::Model> optimizer_adamw() {
  const md::Tensor seq = md::Input({5, 8}, "seq");
  md::Tensor h = L::LayerNormalization({.name = "norm_in"})(seq);
  h = L::Dense({.units = 6, .activation = "gelu", .name = "proj"})(h);
  h = L::LayerNormalization({.epsilon = 1e-5, .center = false, .name = "norm_mid"})(h);
  h = L::GlobalAveragePooling1D({.name = "pool"})(h);
  md::Model model(seq, L::Dense({.units = 3, .name = "logits"})(h), "optimizer_adamw");
  model.compile({.optimizer = md::optim::AdamW({.learning_rate = 0.005f, .weight_decay = 0.05, .clipvalue = 0.1}),
                 .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true}),
                 .metrics = {"accuracy"}});
  return std::make_shared<md::Model>(model);  // a handle: the same model
}

std::shared_ptr<md::Model> optimizer_rmsprop() {
  const md::Tensor query = md::Input({4, 8}, "query");
  const md::Tensor value = md::Input({6, 8}, "value");
  const md::Tensor dot = L::Attention({.use_scale = true, .name = "dot_attention"})({query, value});
  const md::Tensor concat = L::Attention({.score_mode = "concat", .name = "concat_attention"})({query, value});
  md::Tensor h = L::Concatenate({.name = "joined"})({dot, concat});
  h = L::GlobalAveragePooling1D({.name = "pool"})(h);
  md::Model model({query, value}, {L::Dense({.units = 3, .name = "logits"})(h)}, "optimizer_rmsprop");
  model.compile({.optimizer = md::optim::RMSprop({.learning_rate = 0.003f, .rho = 0.8, .momentum = 0.5,
                                                  .centered = true}),
                 .loss = md::losses::CategoricalCrossentropy({.from_logits = true, .label_smoothing = 0.1}),
                 .metrics = {"categorical_accuracy"}});
  return std::make_shared<md::Model>(model);  // a handle: the same model
}

std::shared_ptr<md::Model> optimizer_adagrad() {
  md::Sequential model({md::Input({8}, "x"), L::Dense({.units = 6, .name = "dense"}),
                        L::Activation({.activation = "softplus", .name = "soft"}), L::Dense({.units = 1, .name = "out"})},
                       "optimizer_adagrad");
  const md::optim::PiecewiseConstantDecay schedule({.boundaries = {4, 7}, .values = {0.2, 0.1, 0.05}});
  model.compile({.optimizer = md::optim::Adagrad({.learning_rate = schedule, .initial_accumulator_value = 0.2}),
                 .loss = "mae",
                 .metrics = {"mse"}});
  return std::make_shared<md::Sequential>(model);  // a handle: the same model
}

// The two CNNs of issue 13 (file_models.py: cnn, cnn_deterministic).
std::shared_ptr<md::Model> cnn() {
  md::Sequential model({md::Input({12, 12, 1}, "image")}, "cnn");
  model.add(L::Conv2D({.filters = 4, .kernel_size = {3}, .padding = "same", .use_bias = false,
                       .kernel_regularizer = md::regularizers::L2(1e-3), .name = "conv1"}));
  model.add(L::BatchNormalization(L::BatchNormalizationOptions{.name = "bn1"}));
  model.add(L::Activation({.activation = "relu", .name = "relu1"}));
  model.add(L::MaxPooling2D({.pool_size = {2, 2}, .name = "pool1"}));
  model.add(L::Conv2D({.filters = 6, .kernel_size = {3, 2}, .strides = {1, 2}, .activation = "relu", .name = "conv2"}));
  model.add(L::BatchNormalization(L::BatchNormalizationOptions{.momentum = 0.9, .name = "bn2"}));
  model.add(L::Flatten({.name = "flatten"}));
  model.add(L::Dropout({.rate = 0.25, .name = "dropout"}));
  model.add(L::Dense({.units = 5, .name = "logits"}));
  model.compile({.optimizer = md::optim::Adam({.learning_rate = 2e-3f}),
                 .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true}),
                 .metrics = {"accuracy"}});
  return std::make_shared<md::Sequential>(model);  // a handle: the same model
}

std::shared_ptr<md::Model> cnn_deterministic() {
  md::Sequential model({md::Input({10, 10, 2}, "image")}, "cnn_deterministic");
  model.add(L::Conv2D({.filters = 4, .kernel_size = {3}, .padding = "same",
                       .kernel_regularizer = md::regularizers::L2(1e-3), .name = "conv"}));
  model.add(L::BatchNormalization(L::BatchNormalizationOptions{.name = "bn"}));
  model.add(L::Activation({.activation = "relu", .name = "relu"}));
  model.add(L::AveragePooling2D({.pool_size = {2, 2}, .name = "pool"}));
  model.add(L::Flatten({.name = "flatten"}));
  model.add(L::Dense({.units = 3, .name = "logits"}));
  model.compile({.optimizer = md::optim::SGD({.learning_rate = 0.05f, .momentum = 0.9}),
                 .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true})});
  return std::make_shared<md::Sequential>(model);  // a handle: the same model
}

std::shared_ptr<md::Model> lstm_relu() {
  md::Sequential model({md::Input(md::layers::InputLayerOptions{.shape = {6}, .dtype = "int32", .name = "tokens"}),
                        L::Embedding({.input_dim = 16, .output_dim = 5, .name = "embed"}),
                        L::LSTM({.units = 8, .activation = "relu", .name = "lstm"}),
                        L::Dense({.units = 6, .activation = "tanh", .name = "hidden"}),
                        L::Dense({.units = 3, .activation = "softmax", .name = "probs"})},
                       "lstm_relu");
  model.compile({.optimizer = "adam", .loss = "categorical_crossentropy", .metrics = {"accuracy"}});
  return std::make_shared<md::Sequential>(model);  // a handle: the same model
}

}  // namespace

std::vector<Case> cases() {
  return {
      {"sequential", sequential, [](int64_t n, uint64_t s) { return Batch{{normal({n, 6}, s)}, one_hot(n, 4, s + 1)}; }},
      {"functional_shared", functional_shared,
       [](int64_t n, uint64_t s) { return Batch{{normal({n, 5}, s), normal({n, 5}, s + 1)}, normal({n, 2}, s + 2)}; }},
      {"attention", attention,
       [](int64_t n, uint64_t s) {
         return Batch{{md::random::uniform({n, 28, 28}, 0.0f, 1.0f, s)}, integers({n}, 0, 10, s + 1, md::DType::int32)};
       }},
      {"optimizer_sgd", optimizer_sgd,
       [](int64_t n, uint64_t s) { return Batch{{normal({n, 12}, s)}, normal({n, 2}, s + 1)}; }},
      {"optimizer_adam", optimizer_adam,
       [](int64_t n, uint64_t s) {
         // Token ids 1..19, then padding (0, which the mask hides) after a random length.
         std::vector<float> ids = integers({n, 7}, 1, 20, s, md::DType::float32).to_vector();
         const std::vector<float> lengths = integers({n}, 1, 8, s + 1, md::DType::float32).to_vector();
         for (int64_t i = 0; i < n; ++i) {
           for (int64_t t = int64_t(lengths[size_t(i)]); t < 7; ++t) ids[size_t(i * 7 + t)] = 0.0f;
         }
         return Batch{{md::Tensor::from_vector(ids, {n, 7}, md::DType::int32)},
                      integers({n, 1}, 0, 2, s + 2, md::DType::float32)};
       }},
      {"optimizer_adamw", optimizer_adamw,
       [](int64_t n, uint64_t s) { return Batch{{normal({n, 5, 8}, s)}, integers({n}, 0, 3, s + 1, md::DType::int32)}; }},
      {"optimizer_rmsprop", optimizer_rmsprop,
       [](int64_t n, uint64_t s) { return Batch{{normal({n, 4, 8}, s), normal({n, 6, 8}, s + 1)}, one_hot(n, 3, s + 2)}; }},
      {"optimizer_adagrad", optimizer_adagrad,
       [](int64_t n, uint64_t s) { return Batch{{normal({n, 8}, s)}, normal({n, 1}, s + 1)}; }},
      {"cnn", cnn,
       [](int64_t n, uint64_t s) {
         return Batch{{normal({n, 12, 12, 1}, s)}, integers({n}, 0, 5, s + 1, md::DType::int32)};
       },
       /*random_training=*/true},
      {"cnn_deterministic", cnn_deterministic,
       [](int64_t n, uint64_t s) {
         return Batch{{normal({n, 10, 10, 2}, s)}, integers({n}, 0, 3, s + 1, md::DType::int32)};
       }},
      {"lstm_relu", lstm_relu,
       [](int64_t n, uint64_t s) { return Batch{{integers({n, 6}, 0, 16, s, md::DType::int32)}, one_hot(n, 3, s + 1)}; }},
  };
}

}  // namespace interop

// Fashion-MNIST with a small vision transformer built from MultiHeadAttention.
//
//   image (28, 28) -> 49 patches of 4x4 pixels -> Dense(64) + learned patch positions
//   -> 2 x [ x = LayerNorm(x + MultiHeadAttention(x, x)); x = LayerNorm(x + FFN(x)) ]
//   -> GlobalAveragePooling1D -> Dense(10)
//
// FFN is Dense(128, gelu) -> Dense(64); the attention has 4 heads of key_dim 16. Patches is a
// custom layer of a few lines (a reshape and a transpose), PatchPosition adds a learned vector
// per patch (attention and pooling ignore order otherwise).
//
//   transformer_fashion_mnist [--epochs N] [--batch-size N] [--data DIR]
// Reads Debian's dataset-fashion-mnist files (or DIR), trains with the progress bar and ends
// with "test_accuracy: <value>".
#include <minidl/minidl.h>

#include <chrono>
#include <string>

namespace md = minidl;

namespace {

constexpr int64_t kPatch = 4, kGrid = 28 / kPatch, kTokens = kGrid * kGrid, kDim = 64;

struct PatchesOptions {
  std::string name{};
};

// (B, 28, 28) -> (B, 49, 16): row-major 4x4 patches, each flattened row by row.
class Patches : public md::LayerOf<Patches> {
 public:
  explicit Patches(const PatchesOptions& options = {}) : LayerOf("Patches", options.name) { build_at_init(); }
  static Patches from_config(const md::json& config) { return Patches({.name = config.value("name", "")}); }

 protected:
  std::vector<md::Tensor> call(const md::CallArgs& args, const md::CallContext&) override {
    const md::Tensor x = md::ops::reshape(args.input(), {-1, kGrid, kPatch, kGrid, kPatch});
    return {md::ops::reshape(md::ops::transpose(x, {0, 1, 3, 2, 4}), {-1, kTokens, kPatch * kPatch})};
  }
};
MINIDL_REGISTER_LAYER(Patches);

struct PatchPositionOptions {
  std::string name{};
};

// y[b, t, :] = x[b, t, :] + position[t, :].
class PatchPosition : public md::LayerOf<PatchPosition> {
 public:
  explicit PatchPosition(const PatchPositionOptions& options = {}) : LayerOf("PatchPosition", options.name) {}
  static PatchPosition from_config(const md::json& config) {
    return PatchPosition({.name = config.value("name", "")});
  }

 protected:
  void build_weights(const md::ShapeSpec& input_shape) override {
    const md::Shape& s = input_shape.shape();
    state_->position = add_weight("position", {s[s.size() - 2], s.back()}, md::Initializer::random_normal(0.0, 0.02));
  }
  std::vector<md::Tensor> call(const md::CallArgs& args, const md::CallContext&) override {
    return {args.input() + state_->position.value()};
  }

 private:
  struct State {
    md::Variable position;
  };
  md::Shared<State> state_;
};
MINIDL_REGISTER_LAYER(PatchPosition);

md::Tensor encoder_block(md::Tensor x, int index) {
  const std::string n = std::to_string(index);
  md::layers::MultiHeadAttention attention({.num_heads = 4, .key_dim = kDim / 4, .name = "attention_" + n});
  const md::Tensor a = attention(x, x);
  x = md::layers::LayerNormalization({.epsilon = 1e-6, .name = "attention_norm_" + n})(
      md::layers::Add({.name = "attention_residual_" + n})({x, a}));
  md::Tensor f = md::layers::Dense({.units = 2 * kDim, .activation = "gelu", .name = "ffn_in_" + n})(x);
  f = md::layers::Dense({.units = kDim, .name = "ffn_out_" + n})(f);
  return md::layers::LayerNormalization({.epsilon = 1e-6, .name = "ffn_norm_" + n})(
      md::layers::Add({.name = "ffn_residual_" + n})({x, f}));
}

md::Model build_model() {
  const md::Tensor image = md::Input({28, 28}, "image");
  md::Tensor h = Patches({.name = "patches"})(image);
  h = md::layers::Dense({.units = kDim, .name = "patch_projection"})(h);
  h = PatchPosition({.name = "patch_position"})(h);
  h = encoder_block(h, 0);
  h = encoder_block(h, 1);
  h = md::layers::GlobalAveragePooling1D({.name = "pool"})(h);
  const md::Tensor logits = md::layers::Dense({.units = 10, .name = "logits"})(h);
  return md::Model(image, logits, "transformer_fashion_mnist");
}

struct Settings {
  int epochs = 12;
  int64_t batch_size = 128;
  std::string data_dir;
};

Settings parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw md::ValueError(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--epochs") {
      s.epochs = std::stoi(value());
    } else if (arg == "--batch-size") {
      s.batch_size = std::stoll(value());
    } else if (arg == "--data") {
      s.data_dir = value();
    } else {
      throw md::ValueError("unknown option " + arg + "; use --epochs N, --batch-size N, --data DIR");
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) try {
  const Settings settings = parse(argc, argv);
  md::random::set_global_seed(1337);

  auto [x_train, y_train, x_test, y_test] = md::datasets::fashion_mnist::load(settings.data_dir);
  x_train = x_train * (1.0f / 255.0f);
  x_test = x_test * (1.0f / 255.0f);
  fmt::print("Fashion-MNIST: {} training and {} test images, {} threads\n", x_train.dim(0), x_test.dim(0),
             md::get_num_threads());

  md::Model model = build_model();
  model.summary();
  const int64_t steps_per_epoch = (x_train.dim(0) + settings.batch_size - 1) / settings.batch_size;
  const md::optim::CosineDecay schedule({.initial_learning_rate = 2e-3,
                                         .decay_steps = std::max<int64_t>(1, settings.epochs * steps_per_epoch),
                                         .alpha = 0.02});
  model.compile({.optimizer = md::optim::Adam({.learning_rate = schedule}),
                 .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true}),
                 .metrics = {"accuracy"}});

  const auto start = std::chrono::steady_clock::now();
  model.fit(x_train, y_train, {.epochs = settings.epochs, .batch_size = settings.batch_size, .seed = 42});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("trained {} epochs in {:.1f} s ({:.1f} s per epoch)\n", settings.epochs, seconds,
             seconds / std::max(1, settings.epochs));

  const md::Logs test = model.evaluate(x_test, y_test, {.batch_size = 256, .verbose = 0});
  fmt::print("test_loss: {:.4f}\n", test.at("loss"));
  fmt::print("test_accuracy: {:.4f}\n", test.at("accuracy"));
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "transformer_fashion_mnist: {}\n", e.what());
  return 1;
}

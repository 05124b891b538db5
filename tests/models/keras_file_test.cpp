// model.save / md::load_model: Keras 3's `.keras` zip archive (keras/src/saving/saving_lib.py).
// Every layer type and a trained, compiled model round-trip bit for bit (config, weights,
// predictions, optimizer state, and training continued afterwards); the archive holds what Keras
// writes; a Keras-style archive loads; a writer killed with SIGKILL at random moments always leaves
// a loadable file holding one saved version; bad and mutated files raise md::Errors and never crash.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <minidl/minidl.h>
#include <minidl/models/detail/zip_archive.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "model_test_helpers.h"
#include "tools/save_loop_model.h"

namespace {
// The test folder is one unity build: helpers live in kf so their names meet no other file's.
namespace kf {

// A user layer with a weight, registered so that its config can be read back.
class ShiftByBias : public md::LayerOf<ShiftByBias> {
 public:
  explicit ShiftByBias(const std::string& name = {}) : LayerOf("ShiftByBias", name) {}
  static ShiftByBias from_config(const md::json& config) { return ShiftByBias(config.value("name", "")); }

 protected:
  void build_weights(const md::ShapeSpec& input_shape) override {
    state_->shift = add_weight("shift", {input_shape.shape().back()}, "zeros");
  }
  std::vector<md::Tensor> call(const md::CallArgs& args, const md::CallContext&) override {
    return {args.input() + state_->shift.value()};
  }

 private:
  struct State {
    md::Variable shift;
  };
  md::Shared<State> state_;
};
MINIDL_REGISTER_LAYER(ShiftByBias);

md::Model with_custom_layer() {
  const md::Tensor x = md::Input({5}, "x");
  const md::Tensor h = ShiftByBias("shift")(md::layers::Dense({.units = 4, .name = "dense"})(x));
  return md::Model(x, h, "custom");
}

md::Model classifier() {
  const md::Tensor in = md::Input({6}, "features");
  const md::Tensor h = md::layers::Dense({.units = 16, .activation = "tanh", .name = "hidden"})(in);
  return md::Model(in, md::layers::Dense({.units = 3, .name = "logits"})(h), "classifier");
}

struct Data {
  md::Tensor x, y;
};

Data classes(int64_t n, uint64_t seed) {
  Data d;
  d.x = md::random::normal({n, 6}, 0.0f, 1.0f, seed);
  const std::vector<float> xv = d.x.to_vector();
  std::vector<float> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>((xv[6 * i] > 0) + (xv[6 * i + 1] > 0.5f));
  d.y = md::Tensor::from_vector(y, {n});
  return d;
}

std::vector<md::Tensor> values_of(const std::vector<md::Variable>& variables) {
  std::vector<md::Tensor> out;
  for (const md::Variable& v : variables) out.push_back(v.value());
  return out;
}

const md::detail::ZipMember& member(const std::vector<md::detail::ZipMember>& members, const std::string& name) {
  for (const auto& m : members) {
    if (m.name == name) return m;
  }
  FAIL("no member " << name);
  return members.front();
}

// A file the test can damage: the archive of a small compiled and trained model.
std::string trained_archive(const mt::TempDir& dir) {
  md::Model m = classifier();
  m.compile({.optimizer = md::optim::Adam({.learning_rate = 0.01f}),
             .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true}),
             .metrics = {"accuracy"}});
  const Data d = classes(32, 3);
  m.fit(d.x, d.y, {.epochs = 1, .batch_size = 16, .verbose = 0, .shuffle = false});
  const std::string path = dir.file("trained.keras");
  m.save(path);
  return mt::read_text(path);
}

}  // namespace kf
}  // namespace

TEST_CASE("keras_file: every layer type round-trips: config, weights and predictions bit for bit",
          "[models][keras_file]") {
  mt::TempDir dir;
  const std::string path = dir.file("everything.keras");
  md::Model saved = mt::everything();
  mt::fill_weights(saved, 100);
  const md::Tensor x = mt::token_batch();
  const md::Tensor expected = saved(x);
  saved.save(path);

  const md::Model loaded = md::load_model(path);
  CHECK(md::serialize(loaded).dump() == md::serialize(saved).dump());
  CHECK_FALSE(loaded.compiled());
  CHECK(mt::same_weights(loaded.get_weights(), saved.get_weights()));
  CHECK(mt::same_bits(const_cast<md::Model&>(loaded)(x), expected));
  CHECK(mt::same_bits(const_cast<md::Model&>(loaded).predict(x, {.verbose = 0}), saved.predict(x, {.verbose = 0})));
}

TEST_CASE("keras_file: Sequential models and registered custom layers round-trip", "[models][keras_file]") {
  mt::TempDir dir;
  SECTION("a Sequential model loads as the functional model over its graph") {
    md::Sequential seq({md::layers::InputLayer({.shape = {4}}), md::layers::Dense({.units = 3, .name = "d1"}),
                        md::layers::LayerNormalization({.name = "ln"}), md::layers::Dense({.units = 2, .name = "d2"})},
                       "seq");
    mt::fill_weights(seq, 7);
    const md::Tensor x = md::random::normal({5, 4}, 0.0f, 1.0f, 8);
    seq.save(dir.file("seq.keras"));
    md::Model loaded = md::load_model(dir.file("seq.keras"));
    CHECK(mt::same_weights(loaded.get_weights(), seq.get_weights()));
    CHECK(mt::same_bits(loaded(x), seq(x)));
  }
  SECTION("a layer registered with MINIDL_REGISTER_LAYER") {
    md::Model custom = kf::with_custom_layer();
    mt::fill_weights(custom, 11);
    const md::Tensor x = md::random::normal({3, 5}, 0.0f, 1.0f, 12);
    custom.save(dir.file("custom.keras"));
    md::Model loaded = md::load_model(dir.file("custom.keras"));
    CHECK(loaded.get_layer("shift")->class_name() == "ShiftByBias");
    CHECK(mt::same_weights(loaded.get_weights(), custom.get_weights()));
    CHECK(mt::same_bits(loaded(x), custom(x)));
  }
}

TEST_CASE("keras_file: a trained model comes back compiled with its optimizer state, and training continues "
          "exactly as it would have",
          "[models][keras_file][training]") {
  mt::TempDir dir;
  const kf::Data d = kf::classes(96, 21);
  const md::FitOptions epoch = {.epochs = 2, .batch_size = 16, .verbose = 0, .shuffle = false};
  // Every optimizer with its slots in use, and a learning-rate schedule.
  const std::vector<std::pair<std::string, md::OptimizerArg>> optimizers = {
      {"adam_amsgrad", md::optim::Adam({.learning_rate = 0.01f, .amsgrad = true})},
      {"adam_cosine", md::optim::Adam({.learning_rate = md::optim::CosineDecay(
                                           {.initial_learning_rate = 0.01, .decay_steps = 40})})},
      {"adamw", md::optim::AdamW({.learning_rate = 0.01f})},
      {"sgd_nesterov", md::optim::SGD({.learning_rate = 0.05f, .momentum = 0.9, .nesterov = true})},
      {"rmsprop_centered", md::optim::RMSprop({.learning_rate = 0.01f, .momentum = 0.5, .centered = true})},
      {"adagrad", md::optim::Adagrad({.learning_rate = 0.05f})}};
  for (const auto& [label, optimizer] : optimizers) {
    CAPTURE(label);
    md::Model original = kf::classifier();
    original.compile({.optimizer = optimizer,
                      .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true}),
                      .metrics = {"accuracy"}});
    original.fit(d.x, d.y, epoch);
    const std::string path = dir.file(label + ".keras");
    original.save(path);

    md::Model loaded = md::load_model(path);
    REQUIRE(loaded.compiled());
    CHECK(loaded.get_compile_config().dump() == original.get_compile_config().dump());
    CHECK(loaded.optimizer()->iterations() == original.optimizer()->iterations());
    CHECK(loaded.optimizer()->iterations() == 12);
    CHECK(mt::same_weights(kf::values_of(loaded.optimizer()->variables()),
                           kf::values_of(original.optimizer()->variables())));
    CHECK(mt::same_bits(loaded.predict(d.x, {.verbose = 0}), original.predict(d.x, {.verbose = 0})));

    // Two more epochs on each: the same losses and the same weights, bit for bit.
    const md::History continued = original.fit(d.x, d.y, epoch);
    const md::History resumed = loaded.fit(d.x, d.y, epoch);
    CHECK(resumed["loss"] == continued["loss"]);
    CHECK(resumed["accuracy"] == continued["accuracy"]);
    CHECK(mt::same_weights(loaded.get_weights(), original.get_weights()));

    // compile = false: the same weights, no optimizer.
    const md::Model plain = md::load_model(path, {.compile = false});
    CHECK_FALSE(plain.compiled());
  }
}

TEST_CASE("keras_file: the archive holds metadata.json, config.json and model.weights.h5 as Keras writes them",
          "[models][keras_file]") {
  mt::TempDir dir;
  const std::vector<md::detail::ZipMember> members =
      md::detail::read_zip(kf::trained_archive(dir), "reading the test archive: ");
  std::vector<std::string> names;
  for (const auto& m : members) names.push_back(m.name);
  CHECK(names == std::vector<std::string>{"metadata.json", "config.json", "model.weights.h5"});

  const md::json metadata = md::json::parse(kf::member(members, "metadata.json").data);
  CHECK(metadata.at("keras_version") == "3.16.0");
  const std::string date = metadata.at("date_saved").get<std::string>();
  CHECK(date.size() == 19);
  CHECK(date[4] == '-');
  CHECK(date[10] == '@');  // Keras's "%Y-%m-%d@%H:%M:%S"

  const md::json config = md::json::parse(kf::member(members, "config.json").data);
  std::vector<std::string> keys;
  for (const auto& item : config.items()) keys.push_back(item.key());
  CHECK(keys == std::vector<std::string>{"module", "class_name", "config", "registered_name", "build_config",
                                         "compile_config"});
  CHECK(config.at("module") == "keras.src.models.functional");
  CHECK(config.at("class_name") == "Functional");
  CHECK(config.at("compile_config").at("optimizer").at("class_name") == "Adam");
  CHECK(config.at("compile_config").at("metrics").dump() == R"(["accuracy"])");

  // The weights member is a `.weights.h5` file with the optimizer's state.
  const std::string weights_path = dir.file("member.weights.h5");
  mt::write_bytes(weights_path, kf::member(members, "model.weights.h5").data);
  std::vector<std::string> paths;
  for (const auto& item : md::list_weights_file(weights_path)) {
    if (item.kind == md::WeightsFileItem::Kind::dataset) paths.push_back(item.path + " " + item.dtype);
  }
  CHECK(paths == std::vector<std::string>{
                     "layers/dense/vars/0 float32", "layers/dense/vars/1 float32",
                     "layers/dense_1/vars/0 float32", "layers/dense_1/vars/1 float32",
                     "optimizer/vars/0 int64", "optimizer/vars/1 float32",
                     "optimizer/vars/2 float32", "optimizer/vars/3 float32",
                     "optimizer/vars/4 float32", "optimizer/vars/5 float32", "optimizer/vars/6 float32",
                     "optimizer/vars/7 float32", "optimizer/vars/8 float32", "optimizer/vars/9 float32"});
}

TEST_CASE("keras_file: an archive laid out as Keras 3 writes it loads and compiles", "[models][keras_file][compat]") {
  mt::TempDir dir;
  // config.json as keras.saving.save_model writes it for
  //   x = keras.Input((3,), name="x"); y = keras.layers.Dense(2, name="out")(x)
  //   m = keras.Model(x, y, name="tiny"); m.compile("adam", "mse", metrics=["mae"])
  const std::string config = R"({"module": "keras.src.models.functional", "class_name": "Functional", "config": {
    "name": "tiny", "trainable": true, "layers": [
      {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 3], "dtype": "float32",
       "sparse": false, "ragged": false, "name": "x"}, "registered_name": null, "name": "x", "inbound_nodes": []},
      {"module": "keras.layers", "class_name": "Dense", "config": {"name": "out", "trainable": true,
       "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
                 "registered_name": null},
       "units": 2, "activation": "linear", "use_bias": true,
       "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                              "config": {"seed": null}, "registered_name": null},
       "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                            "registered_name": null},
       "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null},
       "registered_name": null, "build_config": {"input_shape": [null, 3]}, "name": "out",
       "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 3],
                          "dtype": "float32", "keras_history": ["x", 0, 0]}}], "kwargs": {}}]}],
    "input_layers": [["x", 0, 0]], "output_layers": [["out", 0, 0]]},
    "registered_name": "Functional", "build_config": {"input_shape": null},
    "compile_config": {"optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {"name": "adam",
      "learning_rate": 0.0010000000474974513, "weight_decay": null, "clipnorm": null, "global_clipnorm": null,
      "clipvalue": null, "use_ema": false, "ema_momentum": 0.99, "ema_overwrite_frequency": null,
      "loss_scale_factor": null, "gradient_accumulation_steps": null, "beta_1": 0.9, "beta_2": 0.999,
      "epsilon": 1e-07, "amsgrad": false}, "registered_name": null}, "loss": "mse", "loss_weights": null,
      "metrics": ["mae"], "weighted_metrics": null, "run_eagerly": false, "steps_per_execution": 1,
      "jit_compile": false}})";
  // model.weights.h5 of an untrained compiled model: Keras writes the optimizer's iteration and
  // learning rate only (no slots yet); load_model then warns and keeps a fresh optimizer.
  const md::Tensor in = md::Input({3}, "x");
  md::Model reference(in, md::layers::Dense({.units = 2, .name = "out"})(in), "tiny");
  mt::fill_weights(reference, 31);
  md::Variable iteration(md::Tensor::zeros({}, md::DType::int32), {.name = "iteration", .trainable = false});
  md::Variable rate(md::Tensor::full({}, 0.001f), {.name = "learning_rate", .trainable = false});
  md::save_weights(reference, dir.file("w.weights.h5"), std::vector<md::Variable>{iteration, rate});
  const std::string archive = md::detail::write_zip(
      {{"metadata.json", R"({"keras_version": "3.16.0", "date_saved": "2026-11-26@10:00:00"})"},
       {"config.json", config},
       {"model.weights.h5", mt::read_text(dir.file("w.weights.h5"))}},
      "writing the test archive: ");
  mt::write_bytes(dir.file("keras.keras"), archive);

  md::Model loaded = md::load_model(dir.file("keras.keras"));
  REQUIRE(loaded.compiled());
  CHECK(loaded.optimizer()->class_name() == "Adam");
  CHECK(loaded.optimizer()->iterations() == 0);
  CHECK(loaded.get_compile_config().at("metrics").dump() == R"(["mae"])");
  const md::Tensor x = md::random::normal({4, 3}, 0.0f, 1.0f, 32);
  CHECK(mt::same_bits(loaded(x), reference(x)));
}

TEST_CASE("keras_file: wrong extensions, missing files and damaged archives raise errors naming the file",
          "[models][keras_file][errors]") {
  mt::TempDir dir;
  md::Model m = kf::classifier();
  CHECK_THROWS_WITH(m.save(dir.file("m.h5")),
                    Catch::Matchers::StartsWith("Invalid filepath extension for saving. Please add a `.keras` "
                                                "extension") &&
                        Catch::Matchers::EndsWith("Received: filepath=" + dir.file("m.h5") + "."));
  CHECK_THROWS_WITH(md::load_model(dir.file("m.weights.h5")),
                    Catch::Matchers::StartsWith("File format not supported: filepath=" + dir.file("m.weights.h5") +
                                                ". md::load_model only supports `.keras` files"));
  CHECK_THROWS_WITH(md::load_model(dir.file("absent.keras")),
                    "File not found: filepath=" + dir.file("absent.keras") +
                        ". Please ensure the file is an accessible `.keras` zip file.");
  std::filesystem::create_directory(dir.file("folder.keras"));
  CHECK_THROWS_AS(md::load_model(dir.file("folder.keras")), md::IOError);
  CHECK_THROWS_WITH(md::load_model(dir.file("folder.keras")), Catch::Matchers::Contains("it is a directory"));

  const std::string good = kf::trained_archive(dir);
  const std::string path = dir.file("bad.keras");
  const std::string prefix = "Cannot load model from '" + path + "': ";
  SECTION("not a zip archive") {
    mt::write_bytes(path, "{\"this\": \"is json\"}");
    CHECK_THROWS_AS(md::load_model(path), md::IOError);
    CHECK_THROWS_WITH(md::load_model(path), Catch::Matchers::StartsWith(prefix + "not a valid zip archive"));
  }
  SECTION("truncated anywhere") {
    for (size_t cut : {size_t{0}, size_t{10}, good.size() / 3, good.size() / 2, good.size() - 30, good.size() - 1}) {
      CAPTURE(cut);
      mt::write_bytes(path, good.substr(0, cut));
      CHECK_THROWS_AS(md::load_model(path), md::Error);
      CHECK_THROWS_WITH(md::load_model(path), Catch::Matchers::StartsWith(prefix));
    }
  }
  SECTION("a corrupted member fails its CRC check") {
    const std::vector<md::detail::ZipMember> members = md::detail::read_zip(good, "");
    const std::string weights = kf::member(members, "model.weights.h5").data;
    std::string damaged = good;
    const size_t at = damaged.find(weights.substr(200, 64));
    REQUIRE(at != std::string::npos);
    damaged[at + 10] = static_cast<char>(damaged[at + 10] ^ 0x5a);
    mt::write_bytes(path, damaged);
    CHECK_THROWS_AS(md::load_model(path), md::IOError);
    CHECK_THROWS_WITH(md::load_model(path),
                      prefix + "zip member 'model.weights.h5' is damaged: CRC error");
  }
  SECTION("missing members") {
    const std::vector<md::detail::ZipMember> members = md::detail::read_zip(good, "");
    mt::write_bytes(path, md::detail::write_zip({kf::member(members, "metadata.json"),
                                                 kf::member(members, "model.weights.h5")},
                                                ""));
    CHECK_THROWS_WITH(md::load_model(path),
                      prefix + "the archive has no config.json (it holds ['metadata.json', 'model.weights.h5']).");
    mt::write_bytes(path, md::detail::write_zip({kf::member(members, "config.json")}, ""));
    CHECK_THROWS_WITH(md::load_model(path), prefix + "Expected a model.weights.h5 or model.weights.npz file (the "
                                                     "archive holds ['config.json']).");
  }
  SECTION("a config that is not JSON, or names an unknown layer") {
    const std::vector<md::detail::ZipMember> members = md::detail::read_zip(good, "");
    const std::string weights = kf::member(members, "model.weights.h5").data;
    mt::write_bytes(path, md::detail::write_zip({{"config.json", "{\"module\": \n  oops}"},
                                                 {"model.weights.h5", weights}},
                                                ""));
    CHECK_THROWS_WITH(md::load_model(path),
                      Catch::Matchers::StartsWith("Malformed JSON in '" + path + "'/config.json at line 2, column"));
    std::string config = kf::member(members, "config.json").data;
    const size_t at = config.find("\"class_name\":\"Dense\"");
    REQUIRE(at != std::string::npos);
    config.replace(at, 20, "\"class_name\":\"Densest\"");
    mt::write_bytes(path, md::detail::write_zip({{"config.json", config}, {"model.weights.h5", weights}}, ""));
    CHECK_THROWS_WITH(md::load_model(path),
                      Catch::Matchers::StartsWith(prefix + "its config.json does not describe a model minidl can "
                                                           "build: ") &&
                          Catch::Matchers::Contains("Could not locate class 'Densest'"));
  }
  SECTION("weights that do not fit the architecture") {
    const std::vector<md::detail::ZipMember> members = md::detail::read_zip(good, "");
    std::string config = kf::member(members, "config.json").data;
    const size_t at = config.find("\"units\":3");  // the last layer: nothing downstream to disagree
    REQUIRE(at != std::string::npos);
    config.replace(at, 9, "\"units\":4");
    mt::write_bytes(path, md::detail::write_zip(
                              {{"config.json", config}, kf::member(members, "model.weights.h5")}, ""));
    CHECK_THROWS_AS(md::load_model(path), md::ValueError);
    CHECK_THROWS_WITH(md::load_model(path),
                      Catch::Matchers::StartsWith(prefix + "model.weights.h5: ") &&
                          Catch::Matchers::Contains("A total of 1 objects could not be loaded") &&
                          Catch::Matchers::Contains("logits"));
  }
}

TEST_CASE("keras_file: ModelCheckpoint saves whole models to .keras files by default",
          "[models][keras_file][callbacks]") {
  mt::TempDir dir;
  const kf::Data d = kf::classes(32, 41);
  md::Model m = kf::classifier();
  m.compile({.optimizer = "adam", .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true})});
  auto checkpoint = std::make_shared<md::ModelCheckpoint>(md::ModelCheckpointOptions{
      .filepath = dir.file("epoch_{epoch}.keras"), .monitor = "loss"});
  m.fit(d.x, d.y, {.epochs = 2, .batch_size = 16, .verbose = 0, .callbacks = {checkpoint}, .shuffle = false});
  const md::Model last = md::load_model(dir.file("epoch_2.keras"));
  CHECK(mt::same_weights(last.get_weights(), m.get_weights()));
  CHECK(last.optimizer()->iterations() == 4);
  CHECK(md::load_model(dir.file("epoch_1.keras")).optimizer()->iterations() == 2);
}

TEST_CASE("keras_file: a writer killed with SIGKILL at random moments always leaves one whole saved version",
          "[models][keras_file][atomic]") {
  mt::TempDir dir;
  const std::string path = dir.file("looped.keras");
  const md::Model shape_of = slm::model();
  std::mt19937 rng(2026);
  // Even rounds kill after a random delay: one save takes milliseconds (more on a busy machine or
  // under sanitizers), so these land anywhere in the loop, mostly while a version is being built
  // in memory. Odd rounds wait until the child's temporary file appears and kill within 200 us,
  // so that they land while a version is being written to disk.
  std::uniform_int_distribution<int> delay_us(0, 40000);
  std::uniform_int_distribution<int> write_delay_us(0, 200);
  const auto temp_files = [&] {
    std::vector<std::filesystem::path> found;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
      if (entry.path().filename().string().rfind(".looped.keras.tmp", 0) == 0) found.push_back(entry.path());
    }
    return found;
  };
  constexpr int kKills = 60;
  int mid_write = 0;
  int64_t highest = -1;
  for (int kill_no = 0; kill_no < kKills; ++kill_no) {
    CAPTURE(kill_no);
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::dup2(ready[1], STDOUT_FILENO);
      ::close(ready[0]);
      ::close(ready[1]);
      ::execl(MINIDL_SAVE_LOOP_EXE, MINIDL_SAVE_LOOP_EXE, path.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(ready[1]);
    char line[6] = {};
    size_t got = 0;
    while (got < 6) {
      const ssize_t n = ::read(ready[0], line + got, 6 - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    ::close(ready[0]);
    REQUIRE(got == 6);  // "ready\n": the child saved version 0 at least
    if (kill_no % 2 == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    } else {
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (temp_files().empty() && std::chrono::steady_clock::now() < give_up) {
      }
      std::this_thread::sleep_for(std::chrono::microseconds(write_delay_us(rng)));
    }
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE(WIFSIGNALED(status));

    const md::Model loaded = md::load_model(path);
    const int64_t v = slm::version_of(loaded);
    REQUIRE(v >= 0);
    highest = std::max(highest, v);
    CHECK(mt::same_weights(loaded.get_weights(), slm::version_weights(shape_of, v)));
    CHECK(loaded.optimizer()->iterations() == 1);
    // A temporary file left behind means the kill landed while a new version was being written.
    for (const auto& temp : temp_files()) {
      ++mid_write;
      std::filesystem::remove(temp);
    }
  }
  INFO("kills: " << kKills << ", during a write: " << mid_write << ", highest version seen: " << highest);
  CHECK(mid_write > 0);
  CHECK(highest > 0);
}

namespace {
namespace kf {

// One random change to a JSON document: a node replaced by a value of another kind, or a key or
// element removed.
md::json mutate_json(const md::json& doc, std::mt19937& rng) {
  const md::json flat = doc.flatten();
  std::vector<std::string> pointers;
  for (const auto& item : flat.items()) {
    // Parents too, so that whole objects and lists get replaced or removed.
    std::string p = item.key();
    while (!p.empty()) {
      pointers.push_back(p);
      p = p.substr(0, p.rfind('/'));
    }
  }
  static const std::vector<md::json> replacements = {
      nullptr, true, -1, 0, 1, 3, -7.5, 1e300, int64_t{1} << 62, "", "x", "relu", "Dense", "float64",
      md::json::array(), md::json::array({1}), md::json::array({-1, 2}), md::json::array({nullptr, 0}),
      md::json::object(), md::json{{"class_name", "Nope"}, {"config", md::json::object()}}};
  md::json out = doc;
  const md::json::json_pointer target(pointers[rng() % pointers.size()]);
  if (rng() % 4 == 0) {
    md::json& parent = out.at(target.parent_pointer());
    if (parent.is_object()) parent.erase(target.back());
    if (parent.is_array()) parent.erase(static_cast<size_t>(std::stoul(target.back())));
  } else {
    out.at(target) = replacements[rng() % replacements.size()];
  }
  return out;
}

// Loads the file, and runs the model if it loads; only md::Errors may come out.
void load_and_run(const std::string& path, const md::Tensor& x, const std::string& what) {
  try {
    md::Model m = md::load_model(path);
    m(x);
  } catch (const md::Error&) {
  } catch (const std::exception& e) {
    FAIL("a " << what << " raised a non-minidl exception: " << e.what());
  }
}

}  // namespace kf
}  // namespace

TEST_CASE("keras_file: mutated archives, configs and weights raise md::Errors and never crash (bounded fuzz loop)",
          "[models][keras_file][fuzz]") {
  mt::TempDir dir;
  const std::string path = dir.file("fuzz.keras");
  md::Model base = mt::everything();
  mt::fill_weights(base, 5);
  base.compile({.optimizer = "adam", .loss = "mse"});
  const md::Tensor x = mt::token_batch();
  base.train_on_batch(x, md::random::normal({3, 3}, 0.0f, 1.0f, 6));
  base.save(path);
  const std::string good = mt::read_text(path);
  const std::vector<md::detail::ZipMember> members = md::detail::read_zip(good, "");
  const md::json config = md::json::parse(kf::member(members, "config.json").data);

  // MINIDL_FUZZ_SECONDS lengthens the run (CI uses the default).
  const char* env = std::getenv("MINIDL_FUZZ_SECONDS");
  const double budget = env ? std::atof(env) : 4.0;
  std::mt19937 rng(7);
  const auto start = std::chrono::steady_clock::now();
  int runs = 0;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < budget || runs < 60) {
    const int kind = runs % 4;
    std::string bytes;
    std::string what;
    if (kind == 0) {  // bytes of the archive flipped
      bytes = good;
      const int flips = 1 + static_cast<int>(rng() % 8);
      for (int i = 0; i < flips; ++i) bytes[rng() % bytes.size()] = static_cast<char>(rng());
      what = "byte-flipped archive";
    } else if (kind == 1) {  // the archive cut short or padded
      bytes = good.substr(0, rng() % good.size());
      if (rng() % 2) bytes += std::string(rng() % 64, static_cast<char>(rng()));
      what = "truncated archive";
    } else if (kind == 2) {  // a valid archive around a mutated config
      md::json mutated = config;
      const int changes = 1 + static_cast<int>(rng() % 3);
      for (int i = 0; i < changes; ++i) mutated = kf::mutate_json(mutated, rng);
      bytes = md::detail::write_zip(
          {kf::member(members, "metadata.json"), {"config.json", mutated.dump()},
           kf::member(members, "model.weights.h5")},
          "");
      what = "mutated config " + mutated.dump();
    } else {  // a valid archive around damaged weights
      std::string weights = kf::member(members, "model.weights.h5").data;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips; ++i) weights[rng() % weights.size()] = static_cast<char>(rng());
      bytes = md::detail::write_zip(
          {kf::member(members, "metadata.json"), kf::member(members, "config.json"), {"model.weights.h5", weights}},
          "");
      what = "archive with damaged weights";
    }
    mt::write_bytes(path, bytes);
    kf::load_and_run(path, x, what);
    ++runs;
  }
  INFO("fuzz runs: " << runs);
  CHECK(runs >= 60);
}

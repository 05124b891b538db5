// Model::compile / fit / evaluate / predict / train_on_batch, the callbacks and the bad inputs.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include <unistd.h>

namespace md = minidl;
using md::layers::Dense;

namespace {

// y = 2 x0 - 3 x1 + 1 with a little noise: a linear model learns it.
struct TrainRegression {
  md::Tensor x, y;
};

TrainRegression train_regression_data(int64_t n) {
  TrainRegression d;
  d.x = md::random::normal({n, 2}, 0.0f, 1.0f, 1);
  const std::vector<float> xv = d.x.to_vector();
  const std::vector<float> noise = md::random::normal({n}, 0.0f, 0.01f, 2).to_vector();
  std::vector<float> yv(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) yv[i] = 2 * xv[2 * i] - 3 * xv[2 * i + 1] + 1 + noise[i];
  d.y = md::Tensor::from_vector(yv, {n, 1});
  return d;
}

// Three separable classes in 2-D: the class is which of three centres a point is near.
TrainRegression train_classes_data(int64_t n) {
  TrainRegression d;
  const std::vector<float> r = md::random::normal({n, 2}, 0.0f, 0.3f, 3).to_vector();
  std::vector<float> xv(static_cast<size_t>(2 * n)), yv(static_cast<size_t>(n));
  const float centres[3][2] = {{2, 0}, {-2, 1}, {0, -2}};
  for (int64_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(i % 3);
    xv[2 * i] = centres[c][0] + r[2 * i];
    xv[2 * i + 1] = centres[c][1] + r[2 * i + 1];
    yv[i] = static_cast<float>(c);
  }
  d.x = md::Tensor::from_vector(xv, {n, 2});
  d.y = md::Tensor::from_vector(yv, {n});
  return d;
}

md::Model train_linear_model(int64_t inputs = 2, int64_t outputs = 1) {
  const md::Tensor in = md::Input({inputs});
  return md::Model(in, Dense({.units = outputs})(in));
}

md::Model train_classifier() {
  const md::Tensor in = md::Input({2});
  const md::Tensor h = Dense({.units = 8, .activation = "tanh"})(in);
  return md::Model(in, Dense({.units = 3})(h));
}

// Records which hooks ran, in order.
struct TrainRecorder : md::Callback {
  std::vector<std::string> events;
  int64_t batches = 0;
  void on_train_begin(const md::Logs&) override { events.push_back("train_begin"); }
  void on_train_end(const md::Logs&) override { events.push_back("train_end"); }
  void on_epoch_begin(int e, const md::Logs&) override { events.push_back("epoch_begin " + std::to_string(e)); }
  void on_epoch_end(int e, const md::Logs& logs) override {
    events.push_back("epoch_end " + std::to_string(e));
    CHECK(logs.contains("loss"));
  }
  void on_train_batch_end(int64_t, const md::Logs&) override { ++batches; }
};

}  // namespace

TEST_CASE("fit trains a linear regression to the generating weights", "[models][training]") {
  const TrainRegression d = train_regression_data(256);
  md::Model model = train_linear_model();
  model.compile({.optimizer = md::optim::SGD({.learning_rate = 0.1f}), .loss = "mse", .metrics = {"mae"}});
  const md::History h = model.fit(d.x, d.y, {.epochs = 20, .batch_size = 32, .verbose = 0, .seed = 7});
  REQUIRE(h.epoch.size() == 20);
  CHECK(h.keys() == std::vector<std::string>{"loss", "mae"});
  CHECK(h["loss"].back() < 1e-3);
  CHECK(h["loss"].back() < h["loss"].front());
  const std::vector<float> w = model.get_weights()[0].to_vector();
  CHECK(w[0] == Approx(2.0f).margin(0.02));
  CHECK(w[1] == Approx(-3.0f).margin(0.02));
  CHECK(model.get_weights()[1].item() == Approx(1.0f).margin(0.02));
  CHECK(model.optimizer()->iterations() == 20 * 8);
}

TEST_CASE("fit with sparse categorical crossentropy and accuracy, Keras's log names", "[models][training]") {
  const TrainRegression d = train_classes_data(300);
  md::Model model = train_classifier();
  model.compile({.optimizer = md::optim::Adam({.learning_rate = 0.05f}),
                 .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true}),
                 .metrics = {"accuracy"}});
  const md::History h = model.fit(d.x, d.y, {.epochs = 8, .batch_size = 30, .verbose = 0,
                                             .validation_split = 0.2, .seed = 1});
  CHECK(h.keys() == std::vector<std::string>{"loss", "accuracy", "val_loss", "val_accuracy"});
  CHECK(h["accuracy"].back() > 0.95);
  CHECK(h["val_accuracy"].back() > 0.95);
  // "accuracy" became SparseCategoricalAccuracy, keeping the name it was given.
  REQUIRE(model.metrics().size() == 1);
  CHECK(model.metrics()[0]->class_name() == "SparseCategoricalAccuracy");
  CHECK(model.metrics()[0]->name() == "accuracy");
  // The validation rows are the last 20%, before shuffling: evaluate on them gives the last
  // epoch's val_ logs.
  const md::Tensor vx = md::ops::slice(d.x, 0, 240, 300);
  const md::Tensor vy = md::ops::slice(d.y, 0, 240, 300);
  const md::Logs logs = model.evaluate(vx, vy, {.verbose = 0});
  CHECK(logs.at("loss") == Approx(h["val_loss"].back()).epsilon(1e-5));
  CHECK(logs.at("accuracy") == Approx(h["val_accuracy"].back()));
}

TEST_CASE("fit's validation_split trains on the first rows in place: the same run as validation_data of copies",
          "[models][training]") {
  // fit no longer copies the training rows out of x and y; the batches, the weights and every
  // log must be those of a run given the split as separate tensors.
  const TrainRegression d = train_classes_data(301);
  const int64_t split = 240;  // floor(301 * 0.8)
  std::vector<md::Tensor> initial;
  auto train = [&](bool by_split) {
    md::Model model = train_classifier();
    if (initial.empty()) {
      for (const md::Tensor& w : model.get_weights()) initial.push_back(w.clone());
    } else {
      model.set_weights(initial);
    }
    model.compile({.optimizer = md::optim::Adam({.learning_rate = 0.05f}),
                   .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true}),
                   .metrics = {"accuracy"}});
    md::History h;
    if (by_split) {
      h = model.fit(d.x, d.y, {.epochs = 3, .batch_size = 32, .verbose = 0, .validation_split = 0.2, .seed = 9});
    } else {
      const md::Tensor tx = md::ops::slice(d.x, 0, 0, split).clone(), ty = md::ops::slice(d.y, 0, 0, split).clone();
      const md::Tensor vx = md::ops::slice(d.x, 0, split, 301).clone(), vy = md::ops::slice(d.y, 0, split, 301).clone();
      h = model.fit(tx, ty, {.epochs = 3, .batch_size = 32, .verbose = 0, .validation_data = std::make_pair(md::ModelInputs(vx), vy),
                             .seed = 9});
    }
    return std::make_pair(h, model.get_weights());
  };
  const auto [split_history, split_weights] = train(true);
  const auto [data_history, data_weights] = train(false);
  CHECK(split_history.keys() == data_history.keys());
  for (const std::string& key : split_history.keys()) CHECK(split_history[key] == data_history[key]);
  REQUIRE(split_weights.size() == data_weights.size());
  for (size_t i = 0; i < split_weights.size(); ++i) CHECK(split_weights[i].to_vector() == data_weights[i].to_vector());
}

namespace {

// Keeps every batch it sees in training, as the model received it; otherwise the identity
// (times a trainable factor, so that the step has a gradient).
class RecordTrainingBatches : public md::LayerOf<RecordTrainingBatches> {
 public:
  explicit RecordTrainingBatches(std::vector<md::Tensor>* batches)
      : LayerOf("RecordTrainingBatches", ""), batches_(batches) {}

 protected:
  void build_weights(const md::ShapeSpec& input_shape) override {
    state_->factor = add_weight("factor", {input_shape.shape().back()}, "ones");
  }
  std::vector<md::Tensor> call(const md::CallArgs& args, const md::CallContext& ctx) override {
    if (ctx.training && args.input().is_concrete()) batches_->push_back(args.input());
    return {args.input() * state_->factor.value()};
  }

 private:
  std::vector<md::Tensor>* batches_;
  struct State {
    md::Variable factor;
  };
  md::Shared<State> state_;
};

}  // namespace

TEST_CASE("fit gathers every training row once per epoch, intact, in large and small batches",
          "[models][training]") {
  // Row i holds i * 1000 + column. With 100 features, a batch of 200 rows is gathered across the
  // threads (compute::gather) and the epoch's last batch of 40 rows on the calling thread.
  const int64_t n = 300, features = 100, split = 240;
  std::vector<float> values;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < features; ++j) values.push_back(static_cast<float>(i * 1000 + j));
  }
  const md::Tensor x = md::Tensor::from_vector(values, {n, features});
  const md::Tensor y = md::Tensor::zeros({n, 1});
  std::vector<md::Tensor> batches;
  md::Sequential model({md::Input({features}), RecordTrainingBatches(&batches), md::layers::Dense({.units = 1})});
  // Inputs in the hundreds of thousands: a rate this small keeps the loss finite.
  model.compile({.optimizer = md::optim::SGD({.learning_rate = 1e-15f}), .loss = "mse"});
  model.fit(x, y, {.epochs = 2, .batch_size = 200, .verbose = 0, .validation_split = 0.2, .seed = 3});
  REQUIRE(batches.size() == 4);
  for (int epoch = 0; epoch < 2; ++epoch) {
    INFO("epoch " << epoch);
    CHECK(batches[2 * epoch].dim(0) == 200);
    CHECK(batches[2 * epoch + 1].dim(0) == 40);
    std::vector<int64_t> seen;
    for (int b = 0; b < 2; ++b) {
      const md::Tensor& batch = batches[2 * epoch + b];
      const std::vector<float> rows = batch.to_vector();
      for (int64_t r = 0; r < batch.dim(0); ++r) {
        const auto id = static_cast<int64_t>(rows[r * features]) / 1000;
        seen.push_back(id);
        for (int64_t j = 0; j < features; ++j) REQUIRE(rows[r * features + j] == static_cast<float>(id * 1000 + j));
      }
    }
    std::sort(seen.begin(), seen.end());
    std::vector<int64_t> all(split);
    std::iota(all.begin(), all.end(), 0);
    CHECK(seen == all);  // the training rows, each once; no validation row
  }
  CHECK(batches[0].to_vector() != batches[2].to_vector());  // shuffled anew each epoch
}

TEST_CASE("fit shuffles reproducibly from the seed", "[models][training]") {
  const TrainRegression d = train_regression_data(100);
  auto train = [&](uint64_t seed, bool shuffle) {
    md::Model model = train_linear_model();
    model.set_weights({md::Tensor::from_vector({0.5f, -0.5f}, {2, 1}), md::Tensor::zeros({1})});
    model.compile({.optimizer = "sgd", .loss = "mse"});
    model.fit(d.x, d.y, {.epochs = 2, .batch_size = 16, .verbose = 0, .shuffle = shuffle, .seed = seed});
    return model.get_weights()[0].to_vector();
  };
  CHECK(train(3, true) == train(3, true));
  CHECK(train(3, true) != train(4, true));
  CHECK(train(3, false) == train(4, false));
}

TEST_CASE("fit passes training=true down; evaluate and predict run in inference mode", "[models][training]") {
  const md::Tensor in = md::Input({4});
  const md::Tensor out = Dense({.units = 1})(md::layers::Dropout({.rate = 0.5})(in));
  md::Model model(in, out);
  model.compile({.optimizer = md::optim::SGD({.learning_rate = 0.0f}), .loss = "mse"});
  const md::Tensor x = md::random::normal({64, 4}, 0.0f, 1.0f, 5);
  const md::Tensor y = md::Tensor::zeros({64, 1});
  const md::History h = model.fit(x, y, {.epochs = 1, .batch_size = 64, .verbose = 0, .shuffle = false});
  const md::Logs eval = model.evaluate(x, y, {.batch_size = 64, .verbose = 0});
  CHECK(h["loss"][0] != Approx(eval.at("loss")));  // dropout acted in fit only
  CHECK(model.predict(x).to_vector() == model.predict(x).to_vector());
  CHECK(model.predict(x, {.batch_size = 10}).to_vector() == model(x).to_vector());
}

TEST_CASE("fit takes several inputs and validation_data", "[models][training]") {
  const md::Tensor q = md::Input({3, 4});
  const md::Tensor v = md::Input({5, 4});
  const md::Tensor a = md::layers::AdditiveAttention()({q, v});
  const md::Tensor y = Dense({.units = 2})(md::layers::GlobalAveragePooling1D()(a));
  md::Model model({q, v}, {y});
  model.compile({.optimizer = "adam", .loss = "mse"});
  const md::Tensor xq = md::random::normal({20, 3, 4}, 0.0f, 1.0f, 1);
  const md::Tensor xv = md::random::normal({20, 5, 4}, 0.0f, 1.0f, 2);
  const md::Tensor yy = md::random::normal({20, 2}, 0.0f, 1.0f, 3);
  const md::History h = model.fit({xq, xv}, yy, {.epochs = 2, .batch_size = 8, .verbose = 0,
                                                 .validation_data = std::make_pair(md::ModelInputs{xq, xv}, yy)});
  CHECK(h.keys() == std::vector<std::string>{"loss", "val_loss"});
  CHECK(model.predict({xq, xv}).shape() == md::Shape{20, 2});
}

TEST_CASE("train_on_batch and test_on_batch report that batch", "[models][training]") {
  const TrainRegression d = train_regression_data(16);
  md::Model model = train_linear_model();
  model.compile({.optimizer = md::optim::SGD({.learning_rate = 0.1f}), .loss = "mse", .metrics = {"mae"}});
  const md::Logs before = model.test_on_batch(d.x, d.y);
  const md::Logs step = model.train_on_batch(d.x, d.y);
  CHECK(step.at("loss") == Approx(before.at("loss")));  // the loss before the update
  CHECK(model.test_on_batch(d.x, d.y).at("loss") < before.at("loss"));
  CHECK(model.optimizer()->iterations() == 1);
}

TEST_CASE("training errors are clear", "[models][training]") {
  md::Model model = train_classifier();
  const md::Tensor x = md::Tensor::zeros({10, 2});
  CHECK_THROWS_WITH(model.fit(x, md::Tensor::zeros({10})),
                    "You must call `compile()` before using the model: fit() needs an optimizer and a loss.");
  CHECK_THROWS_WITH(model.evaluate(x, md::Tensor::zeros({10})), Catch::Contains("before using the model"));
  model.compile({.optimizer = "adam", .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true})});
  CHECK_THROWS_WITH(model.fit(x, md::Tensor::zeros({9}), {.verbose = 0}),
                    "Data cardinality is ambiguous. Make sure all arrays contain the same number of samples. 'x' "
                    "sizes: 10\n'y' sizes: 9\n");
  CHECK_THROWS_AS(model.fit(x, md::Tensor::full({10}, 3.0f), {.verbose = 0}), md::ValueError);
  CHECK_THROWS_WITH(model.fit(x, md::Tensor::full({10}, 3.0f), {.verbose = 0}), Catch::Contains("3"));
  CHECK_THROWS_WITH(model.fit(x, md::Tensor::zeros({10}), {.verbose = 0, .validation_split = 1.5}),
                    "`validation_split` must be in [0, 1); received 1.5.");
  CHECK_THROWS_WITH(model.fit(x, md::Tensor::zeros({10}), {.batch_size = 0, .verbose = 0}),
                    "fit: batch_size must be positive; received 0.");
  CHECK_THROWS_WITH(md::Model(train_classifier()).compile({.optimizer = "adam", .loss = "no_such_loss"}),
                    Catch::Contains("no_such_loss"));
  CHECK_THROWS_WITH(model.compile({.optimizer = "adam", .loss = "mse", .metrics = {"no_such_metric"}}),
                    Catch::Contains("no_such_metric"));
}

TEST_CASE("a NaN loss stops fit with the epoch and step", "[models][training]") {
  md::Model model = train_linear_model();
  model.compile({.optimizer = "sgd", .loss = "mse"});
  std::vector<float> xv(20, 1.0f);
  xv[13] = std::nanf("");
  const md::Tensor x = md::Tensor::from_vector(xv, {10, 2});
  CHECK_THROWS_WITH(model.fit(x, md::Tensor::zeros({10, 1}), {.epochs = 3, .batch_size = 4, .verbose = 0,
                                                              .shuffle = false}),
                    "The loss became NaN at epoch 1/3, step 2/3: training stopped. Check the inputs for NaN or "
                    "infinite values, or lower the learning rate.");
}

TEST_CASE("callbacks: hooks in order, user stop, EarlyStopping, CSVLogger, LearningRateScheduler",
          "[models][training][callbacks]") {
  const TrainRegression d = train_regression_data(64);
  SECTION("hook order and a user callback that stops training") {
    md::Model model = train_linear_model();
    model.compile({.optimizer = "sgd", .loss = "mse"});
    auto recorder = std::make_shared<TrainRecorder>();
    struct StopAfterTwo : md::Callback {
      void on_epoch_end(int epoch, const md::Logs&) override {
        if (epoch == 1) model().set_stop_training(true);
      }
    };
    const md::History h = model.fit(d.x, d.y, {.epochs = 5, .batch_size = 32, .verbose = 0,
                                               .callbacks = {recorder, std::make_shared<StopAfterTwo>()}});
    CHECK(h.epoch == std::vector<int>{0, 1});
    CHECK(recorder->batches == 4);
    CHECK(recorder->events == std::vector<std::string>{"train_begin", "epoch_begin 0", "epoch_end 0",
                                                       "epoch_begin 1", "epoch_end 1", "train_end"});
  }
  SECTION("EarlyStopping with patience and restore_best_weights") {
    md::Model model = train_linear_model();
    // A rate this large diverges: the loss grows every epoch after the first.
    model.compile({.optimizer = md::optim::SGD({.learning_rate = 1.2f}), .loss = "mse"});
    auto stop = std::make_shared<md::EarlyStopping>(
        md::EarlyStoppingOptions{.monitor = "loss", .patience = 2, .restore_best_weights = true});
    struct WeightsEachEpoch : md::Callback {
      std::vector<std::vector<md::Tensor>> weights;
      void on_epoch_end(int, const md::Logs&) override {
        std::vector<md::Tensor> w;
        for (const md::Tensor& t : model().get_weights()) w.push_back(t.clone());
        weights.push_back(w);
      }
    };
    auto snapshots = std::make_shared<WeightsEachEpoch>();
    const md::History h = model.fit(d.x, d.y, {.epochs = 20, .batch_size = 64, .verbose = 0,
                                               .callbacks = {snapshots, stop}, .shuffle = false});
    const std::vector<double>& loss = h["loss"];
    const auto best = static_cast<size_t>(std::min_element(loss.begin(), loss.end()) - loss.begin());
    CHECK(stop->best_epoch() == static_cast<int>(best));
    CHECK(h.epoch.size() == best + 3);  // two epochs of patience after the best
    CHECK(stop->stopped_epoch() == static_cast<int>(best + 2));
    CHECK(model.get_weights()[0].to_vector() == snapshots->weights[best][0].to_vector());
  }
  SECTION("EarlyStopping cannot guess the direction of a metric it does not know (Keras's text)") {
    md::Model model = train_linear_model();
    model.compile({.optimizer = "sgd", .loss = "mse", .metrics = {md::metrics::MeanAbsoluteError({.name = "closeness"})}});
    auto stop = std::make_shared<md::EarlyStopping>(md::EarlyStoppingOptions{.monitor = "closeness"});
    CHECK_THROWS_WITH(model.fit(d.x, d.y, {.verbose = 0, .callbacks = {stop}}),
                      Catch::StartsWith("EarlyStopping callback received monitor=closeness but Keras isn't able "
                                        "to automatically determine"));
    // With a mode it works.
    auto with_mode = std::make_shared<md::EarlyStopping>(md::EarlyStoppingOptions{.monitor = "closeness", .mode = "min"});
    CHECK(model.fit(d.x, d.y, {.epochs = 2, .verbose = 0, .callbacks = {with_mode}}).epoch.size() == 2);
    CHECK_THROWS_WITH(md::EarlyStopping({.mode = "lowest"}),
                      "mode must be one of 'auto', 'min' or 'max'; received mode=lowest.");
  }
  SECTION("EarlyStopping names an unknown metric and warns once when validation data is missing") {
    md::Model model = train_linear_model();
    model.compile({.optimizer = "sgd", .loss = "mse", .metrics = {"mae"}});
    auto typo = std::make_shared<md::EarlyStopping>(md::EarlyStoppingOptions{.monitor = "val_los"});
    CHECK_THROWS_WITH(model.fit(d.x, d.y, {.verbose = 0, .callbacks = {typo}, .validation_split = 0.25}),
                      "EarlyStopping: monitor='val_los' is not a metric of this model. Available metrics are: loss, "
                      "mae, val_loss, val_mae.");
    // val_loss without validation data: one warning on stderr for three epochs, and no stop.
    auto no_validation = std::make_shared<md::EarlyStopping>(md::EarlyStoppingOptions{.monitor = "val_loss"});
    const std::string log = (std::filesystem::temp_directory_path() / "minidl_early_stopping_stderr.txt").string();
    std::fflush(stderr);
    const int saved = ::dup(STDERR_FILENO);
    FILE* sink = std::fopen(log.c_str(), "w");
    REQUIRE(sink != nullptr);
    ::dup2(::fileno(sink), STDERR_FILENO);
    const md::History h = model.fit(d.x, d.y, {.epochs = 3, .verbose = 0, .callbacks = {no_validation}});
    std::fflush(stderr);
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    std::fclose(sink);
    CHECK(h.epoch.size() == 3);
    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text ==
          "Warning: EarlyStopping monitors 'val_loss', which needs validation data: pass validation_split or "
          "validation_data to fit(). Until then it does nothing. Available metrics are: loss, mae.\n");
  }
  SECTION("CSVLogger writes epoch then the sorted log names") {
    const std::string path = (std::filesystem::temp_directory_path() / "minidl_training_log.csv").string();
    md::Model model = train_linear_model();
    model.compile({.optimizer = "sgd", .loss = "mse", .metrics = {"mae"}});
    model.fit(d.x, d.y, {.epochs = 2, .batch_size = 32, .verbose = 0,
                         .callbacks = {std::make_shared<md::CSVLogger>(path)}, .validation_split = 0.25});
    std::ifstream in(path);
    std::string header, row0, row1, extra;
    std::getline(in, header);
    std::getline(in, row0);
    std::getline(in, row1);
    CHECK(header == "epoch,loss,mae,val_loss,val_mae");
    CHECK(row0.rfind("0,", 0) == 0);
    CHECK(row1.rfind("1,", 0) == 0);
    CHECK(!std::getline(in, extra));
    std::filesystem::remove(path);
  }
  SECTION("LearningRateScheduler sets the rate each epoch") {
    md::Model model = train_linear_model();
    model.compile({.optimizer = md::optim::SGD({.learning_rate = 0.1f}), .loss = "mse"});
    std::vector<double> seen;
    auto scheduler = std::make_shared<md::LearningRateScheduler>([&](int epoch, double lr) {
      seen.push_back(lr);
      return 0.1 / (epoch + 1);
    });
    model.fit(d.x, d.y, {.epochs = 3, .batch_size = 64, .verbose = 0, .callbacks = {scheduler}});
    REQUIRE(seen.size() == 3);
    CHECK(seen[1] == Approx(0.1));
    CHECK(seen[2] == Approx(0.05));
    CHECK(model.optimizer()->learning_rate() == Approx(0.1f / 3));
  }
}

TEST_CASE("get_compile_config has Keras's keys", "[models][training]") {
  md::Model model = train_classifier();
  CHECK(model.get_compile_config().is_null());
  model.compile({.optimizer = "adam", .loss = "sparse_categorical_crossentropy", .metrics = {"accuracy"}});
  const md::json c = model.get_compile_config();
  std::vector<std::string> keys;
  for (const auto& item : c.items()) keys.push_back(item.key());
  CHECK(keys == std::vector<std::string>{"optimizer", "loss", "loss_weights", "metrics", "weighted_metrics",
                                         "run_eagerly", "steps_per_execution", "jit_compile"});
  CHECK(c.at("optimizer").at("class_name") == "Adam");
  CHECK(c.at("loss") == "sparse_categorical_crossentropy");
  CHECK(c.at("metrics").dump() == R"(["accuracy"])");
}

namespace {

// "Output the value of the flagged token": sequences of 6 tokens, each a one-hot value among 4
// plus a flag bit set on exactly one token; the label is the flagged token's value. Pooling
// alone averages all values; attention can pick the flagged token out.
TrainRegression flagged_token_data(int64_t n, uint64_t seed) {
  const int64_t steps = 6, values = 4;
  const std::vector<float> r = md::random::uniform({n, steps + 1}, 0.0f, 1.0f, seed).to_vector();
  std::vector<float> x(static_cast<size_t>(n * steps * (values + 1)), 0.0f), y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const auto flagged = static_cast<int64_t>(r[i * (steps + 1) + steps] * steps) % steps;
    for (int64_t t = 0; t < steps; ++t) {
      const auto v = static_cast<int64_t>(r[i * (steps + 1) + t] * values) % values;
      float* token = &x[static_cast<size_t>((i * steps + t) * (values + 1))];
      token[v] = 1.0f;
      if (t == flagged) {
        token[values] = 1.0f;
        y[i] = static_cast<float>(v);
      }
    }
  }
  return {md::Tensor::from_vector(x, {n, steps, values + 1}), md::Tensor::from_vector(y, {n})};
}

md::Model flagged_token_model(bool with_attention) {
  const md::Tensor in = md::Input({6, 5});
  md::Tensor h = Dense({.units = 16})(in);
  if (with_attention) h = md::layers::AdditiveAttention()({h, h});
  h = md::layers::GlobalAveragePooling1D()(h);
  return md::Model(in, Dense({.units = 4})(h));
}

md::History fit_flagged(bool with_attention) {
  md::random::set_global_seed(99);
  const TrainRegression d = flagged_token_data(1200, 5);
  md::Model model = flagged_token_model(with_attention);
  model.compile({.optimizer = md::optim::Adam({.learning_rate = 0.02f}),
                 .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true}),
                 .metrics = {"accuracy"}});
  return model.fit(d.x, d.y, {.epochs = 15, .batch_size = 32, .verbose = 0, .validation_split = 0.25, .seed = 3});
}

}  // namespace

TEST_CASE("fit learns a task that needs attention: the value of the flagged token", "[models][training]") {
  const md::History with = fit_flagged(true);
  const md::History without = fit_flagged(false);
  INFO("val_accuracy with attention " << with["val_accuracy"].back() << ", without " << without["val_accuracy"].back());
  CHECK(with["val_accuracy"].back() >= 0.95);
  CHECK(without["val_accuracy"].back() < 0.7);  // mean pooling alone cannot find the flag
  // The same seeds give the same History, number for number.
  const md::History again = fit_flagged(true);
  CHECK(again["loss"] == with["loss"]);
  CHECK(again["val_accuracy"] == with["val_accuracy"]);
}

TEST_CASE("ModelCheckpoint keeps the best epoch's weights in a .weights.h5 file", "[models][training][callbacks]") {
  const TrainRegression d = train_regression_data(64);
  const std::string path = (std::filesystem::temp_directory_path() / "minidl_best.weights.h5").string();
  std::filesystem::remove(path);
  md::Model model = train_linear_model();
  // A rate this large diverges after the first epochs, so the best epoch is an early one.
  model.compile({.optimizer = md::optim::SGD({.learning_rate = 1.2f}), .loss = "mse"});
  auto checkpoint = std::make_shared<md::ModelCheckpoint>(
      md::ModelCheckpointOptions{
          .filepath = path, .monitor = "loss", .save_best_only = true, .save_weights_only = true});
  struct KeepWeights : md::Callback {
    std::vector<std::vector<float>> kernels;
    void on_epoch_end(int, const md::Logs&) override { kernels.push_back(model().get_weights()[0].to_vector()); }
  };
  auto kept = std::make_shared<KeepWeights>();
  const md::History h = model.fit(d.x, d.y, {.epochs = 6, .batch_size = 64, .verbose = 0,
                                             .callbacks = {kept, checkpoint}, .shuffle = false});
  const std::vector<double>& loss = h["loss"];
  const auto best = static_cast<size_t>(std::min_element(loss.begin(), loss.end()) - loss.begin());
  REQUIRE(checkpoint->best().has_value());
  CHECK(*checkpoint->best() == loss[best]);
  md::Model fresh = train_linear_model();
  fresh.load_weights(path);
  CHECK(fresh.get_weights()[0].to_vector() == kept->kernels[best]);
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::others_read) !=
        std::filesystem::perms::none);  // saved with the usual 0644, not mkstemp's 0600
  std::filesystem::remove(path);
  CHECK_THROWS_WITH(md::ModelCheckpoint({.filepath = "best.h5", .save_weights_only = true}),
                    "When using `save_weights_only=True` in `ModelCheckpoint`, the filepath provided must end in "
                    "`.weights.h5` (Keras weights format). Received: filepath=best.h5");
  CHECK_THROWS_WITH(md::ModelCheckpoint({.filepath = "best.weights.h5"}),
                    "The filepath provided must end in `.keras` (Keras model format). Received: "
                    "filepath=best.weights.h5");
}

TEST_CASE("empty data is an error naming the argument, not a zero loss", "[models][training][errors]") {
  md::Model model = train_classifier();
  model.compile({.optimizer = "adam", .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true})});
  const md::Tensor x = md::Tensor::zeros({0, 2}), y = md::Tensor::zeros({0});
  CHECK_THROWS_WITH(model.fit(x, y, {.epochs = 2, .verbose = 0}),
                    "fit: `x` holds 0 samples (shape (0, 2)). Expected input data to be non-empty.");
  CHECK_THROWS_WITH(model.evaluate(x, y, {.verbose = 0}),
                    "evaluate: `x` holds 0 samples (shape (0, 2)). Expected input data to be non-empty.");
  CHECK_THROWS_WITH(model.predict(x),
                    "predict: `x` holds 0 samples (shape (0, 2)). Expected input data to be non-empty.");
  CHECK_THROWS_WITH(model.train_on_batch(x, y), Catch::StartsWith("train_on_batch: `x` holds 0 samples"));
  CHECK_THROWS_WITH(model.test_on_batch(x, y), Catch::StartsWith("test_on_batch: `x` holds 0 samples"));
  const md::Tensor some_x = md::Tensor::zeros({4, 2}), some_y = md::Tensor::zeros({4});
  CHECK_THROWS_WITH(model.fit(some_x, some_y, {.verbose = 0, .validation_data = {{{x}, y}}}),
                    Catch::StartsWith("fit (validation_data): `x` holds 0 samples"));
  CHECK(model.optimizer()->iterations() == 0);  // nothing ran
}

TEST_CASE("a NaN input reaches the loss through a ReLU-first model and stops fit", "[models][training][nan]") {
  const md::Tensor in = md::Input({3});
  md::Model model(in, Dense({.units = 1})(Dense({.units = 4, .activation = "relu"})(in)));
  model.compile({.optimizer = "sgd", .loss = "mse"});
  std::vector<float> xv(8 * 3, 0.5f);
  xv[4] = std::nanf("");
  const md::Tensor x = md::Tensor::from_vector(xv, {8, 3});
  CHECK_THROWS_WITH(model.fit(x, md::Tensor::zeros({8, 1}), {.batch_size = 8, .verbose = 0}),
                    Catch::StartsWith("The loss became NaN at epoch 1/1, step 1/1"));
  CHECK(std::isnan(model.predict(x).to_vector()[1]));
}

TEST_CASE("TerminateOnNaN stops fit after the NaN batch, Keras's way; raise_error throws", "[models][training][nan]") {
  // Row 6 of 10 holds a NaN: with batches of 4 in order, the second batch's loss is NaN.
  std::vector<float> xv(20, 1.0f);
  xv[13] = std::nanf("");
  const md::Tensor x = md::Tensor::from_vector(xv, {10, 2});
  const md::Tensor y = md::Tensor::zeros({10, 1});
  md::Model model = train_linear_model();
  model.compile({.optimizer = "sgd", .loss = "mse"});
  auto recorder = std::make_shared<TrainRecorder>();
  SECTION("graceful: the epoch ends, every end hook runs, no weight took the NaN step") {
    const md::History h = model.fit(x, y, {.epochs = 3, .batch_size = 4, .verbose = 0,
                                           .callbacks = {std::make_shared<md::TerminateOnNaN>(), recorder},
                                           .shuffle = false});
    CHECK(h.epoch == std::vector<int>{0});
    CHECK(std::isnan(h["loss"][0]));
    CHECK(recorder->batches == 2);
    CHECK(recorder->events == std::vector<std::string>{"train_begin", "epoch_begin 0", "epoch_end 0", "train_end"});
    CHECK(model.optimizer()->iterations() == 1);
    for (const md::Tensor& w : model.get_weights()) {
      for (const float v : w.to_vector()) CHECK(std::isfinite(v));
    }
  }
  SECTION("raise_error: Keras's message, and no later hook runs") {
    CHECK_THROWS_MATCHES(
        model.fit(x, y, {.epochs = 3, .batch_size = 4, .verbose = 0,
                         .callbacks = {std::make_shared<md::TerminateOnNaN>(md::TerminateOnNaNOptions{.raise_error = true}),
                                       recorder},
                         .shuffle = false}),
        md::FloatingPointError,
        Catch::Message("NaN or Inf loss encountered at batch 1. Loss value: nan. Terminating training immediately."));
    CHECK(recorder->events == std::vector<std::string>{"train_begin", "epoch_begin 0"});
  }
  SECTION("other callbacks only: fit's own error, before any weight moves") {
    CHECK_THROWS_WITH(model.fit(x, y, {.epochs = 3, .batch_size = 4, .verbose = 0, .callbacks = {recorder},
                                       .shuffle = false}),
                      Catch::StartsWith("The loss became NaN at epoch 1/3, step 2/3"));
    CHECK(recorder->batches == 2);  // the hooks saw the NaN batch first
    CHECK(model.optimizer()->iterations() == 1);
  }
}

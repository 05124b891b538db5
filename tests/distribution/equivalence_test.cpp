// Data-parallel fit() against one process with the same global batch: 20 steps of an MLP (with
// Dropout, so the masks must line up too) and of the demo's attention model, at the process count
// mpirun gave (CTest: 2 and 4). Every process also trains the one-process reference itself, with
// the distribution unset, from the same starting weights. Checked: the weights are the same bits
// on every process (both modes), within 1e-5 relative of the reference, and so are History,
// evaluate() and predict().
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <functional>

#include "distribution_helpers.h"
#include "fashion_mnist_attention_model.h"

namespace md = minidl;
using distribution_test::flat_weights;
using distribution_test::max_relative_difference;
using distribution_test::same_bits_everywhere;

namespace {

constexpr int64_t kBatch = 16;
constexpr int64_t kSamples = 19 * kBatch + 10;  // 20 steps; the last batch of 10 splits unevenly at 4
constexpr double kTolerance = 1e-5;

md::Model build_mlp() {
  const md::Tensor in = md::Input({20});
  md::Tensor h = md::layers::Dense({.units = 32, .activation = "relu"})(in);
  h = md::layers::Dropout({.rate = 0.25, .seed = 7})(h);
  return md::Model(in, md::layers::Dense({.units = 5, .activation = "softmax"})(h));
}

struct Data {
  md::Tensor x, y;
};

Data labelled(const md::Shape& x_shape, int classes) {
  Data d;
  d.x = md::random::normal(x_shape, 0.0f, 1.0f, 11);
  std::vector<float> labels = md::random::uniform({x_shape[0]}, 0.0f, static_cast<float>(classes), 12).to_vector();
  for (float& v : labels) v = std::floor(v);
  d.y = md::Tensor::from_vector(labels, {x_shape[0]});
  return d;
}

void compile(md::Model& model, bool from_logits) {
  model.compile({.optimizer = md::optim::Adam({.learning_rate = 1e-3f}),
                 .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = from_logits}),
                 .metrics = {"accuracy"}});
}

void check_against_one_process(const std::function<md::Model()>& build, const Data& data, bool from_logits,
                               bool deterministic) {
  md::random::set_global_seed(1234);
  md::Model parallel = build();
  md::Model reference = build();
  reference.set_weights(parallel.get_weights());
  compile(parallel, from_logits);
  compile(reference, from_logits);
  const md::FitOptions fit{.epochs = 1, .batch_size = kBatch, .verbose = 0, .seed = 42};

  md::distribution::set_distribution(std::nullopt);
  const md::History one = reference.fit(data.x, data.y, fit);
  md::distribution::set_distribution(md::distribution::DataParallel({.deterministic = deterministic}));
  const md::History many = parallel.fit(data.x, data.y, fit);

  const std::vector<float> weights = flat_weights(parallel);
  CHECK(same_bits_everywhere(weights));
  const double difference = max_relative_difference(weights, flat_weights(reference));
  if (md::distribution::process_id() == 0) {
    fmt::print("{} processes, deterministic {}: weights after 20 steps within {:.2e} (relative) of one process's; "
               "loss {:.9f} vs {:.9f}\n",
               md::distribution::num_processes(), deterministic, difference, many["loss"][0], one["loss"][0]);
  }
  CHECK(difference < kTolerance);
  CHECK(many["loss"][0] == Approx(one["loss"][0]).epsilon(kTolerance));
  CHECK(many["accuracy"][0] == Approx(one["accuracy"][0]).epsilon(kTolerance));
  CHECK(same_bits_everywhere({static_cast<float>(many["loss"][0]), static_cast<float>(many["accuracy"][0])}));

  // evaluate() and predict() shard too: the same model, split and not.
  const md::Logs split = parallel.evaluate(data.x, data.y, {.batch_size = 24, .verbose = 0});
  const md::Tensor predicted = parallel.predict(data.x, {.batch_size = 24});
  md::distribution::set_distribution(std::nullopt);
  const md::Logs whole = parallel.evaluate(data.x, data.y, {.batch_size = 24, .verbose = 0});
  const md::Tensor predicted_whole = parallel.predict(data.x, {.batch_size = 24});
  CHECK(split.at("loss") == Approx(whole.at("loss")).epsilon(kTolerance));
  CHECK(split.at("accuracy") == Approx(whole.at("accuracy")).epsilon(kTolerance));
  CHECK(max_relative_difference(predicted.to_vector(), predicted_whole.to_vector()) < kTolerance);
  CHECK(same_bits_everywhere(predicted.to_vector()));
}

}  // namespace

TEST_CASE("20 MLP steps with Dropout match one process", "[equivalence]") {
  const Data data = labelled({kSamples, 20}, 5);
  for (bool deterministic : {false, true}) {
    INFO("deterministic " << deterministic << ", " << md::distribution::num_processes() << " processes");
    check_against_one_process(build_mlp, data, /*from_logits=*/false, deterministic);
  }
}

TEST_CASE("20 steps of the demo's attention model match one process", "[equivalence]") {
  const Data data = labelled({kSamples, 28, 28}, 10);
  for (bool deterministic : {false, true}) {
    INFO("deterministic " << deterministic << ", " << md::distribution::num_processes() << " processes");
    check_against_one_process(fashion_mnist_attention::build_model, data, /*from_logits=*/true, deterministic);
  }
}

TEST_CASE("deterministic mode repeats itself bit for bit", "[equivalence]") {
  const Data data = labelled({kSamples, 20}, 5);
  std::vector<std::vector<float>> runs;
  for (int run = 0; run < 2; ++run) {
    md::random::set_global_seed(99);
    md::Model model = build_mlp();
    compile(model, false);
    md::distribution::set_distribution(md::distribution::DataParallel({.deterministic = true}));
    model.fit(data.x, data.y, {.epochs = 1, .batch_size = kBatch, .verbose = 0, .seed = 5});
    md::distribution::set_distribution(std::nullopt);
    runs.push_back(flat_weights(model));
  }
  CHECK(runs[0] == runs[1]);
  CHECK(same_bits_everywhere(runs[0]));
}

TEST_CASE("BatchNormalization's moving statistics stay the same on every process", "[equivalence]") {
  const Data data = labelled({kSamples, 20}, 5);
  md::random::set_global_seed(3);
  const md::Tensor in = md::Input({20});
  md::Tensor h = md::layers::BatchNormalization()(md::layers::Dense({.units = 8})(in));
  md::Model model(in, md::layers::Dense({.units = 5, .activation = "softmax"})(h));
  compile(model, false);
  md::distribution::set_distribution(md::distribution::DataParallel());
  model.fit(data.x, data.y, {.epochs = 1, .batch_size = kBatch, .verbose = 0, .seed = 5});
  md::distribution::set_distribution(std::nullopt);
  CHECK(same_bits_everywhere(flat_weights(model)));
}

// MaxPooling2D 2x2 and BatchNormalization (training) on the shapes of a Conv-BN-ReLU-Pool CNN on
// Fashion-MNIST, forward and forward+backward, through md::ops (tape included) against the raw
// oneDNN primitives on the same NHWC buffers, and on oneDNN's blocked layout (nChw8c, the
// layout format_tag::any gives these shapes; no reorder counted): whether keeping activations
// blocked between layers would pay. bench/RESULTS.md has the numbers.
//   build/bench/pooling_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>
#include <minidl/minidl.h>

#include <oneapi/dnnl/dnnl.hpp>

namespace md = minidl;

namespace {

using dnnl::memory;

// (N, H, W, C) of the two blocks.
md::Shape shape_of(const benchmark::State& state) { return {64, state.range(0), state.range(0), state.range(1)}; }

void op_max_pool(benchmark::State& state, bool backward) {
  const md::Shape shape = shape_of(state);
  const md::Tensor x = md::random::normal(shape, 0, 1, 1);
  const md::Tensor dy = md::random::normal({shape[0], shape[1] / 2, shape[2] / 2, shape[3]}, 0, 1, 2);
  for (auto _ : state) {
    if (!backward) {
      benchmark::DoNotOptimize(md::ops::max_pool(x, {2, 2}));
      continue;
    }
    md::GradientTape tape;
    tape.watch(x);
    const md::Tensor y = md::ops::max_pool(x, {2, 2});
    benchmark::DoNotOptimize(tape.gradient(y, {x}, {dy}));
  }
}

// NHWC, or oneDNN's blocked nChw8c.
memory::format_tag layout(bool blocked) { return blocked ? memory::format_tag::nChw8c : memory::format_tag::nhwc; }

void raw_max_pool(benchmark::State& state, bool backward, bool blocked) {
  const md::Shape shape = shape_of(state);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const memory::desc src({shape[0], shape[3], shape[1], shape[2]}, memory::data_type::f32, layout(blocked));
  const memory::desc dst({shape[0], shape[3], shape[1] / 2, shape[2] / 2}, memory::data_type::f32, layout(blocked));
  dnnl::pooling_forward::primitive_desc fwd(
      {dnnl::prop_kind::forward_training, dnnl::algorithm::pooling_max, src, dst, {2, 2}, {2, 2}, {0, 0}, {0, 0}},
      engine);
  dnnl::pooling_backward::primitive_desc bwd({dnnl::algorithm::pooling_max, src, dst, {2, 2}, {2, 2}, {0, 0}, {0, 0}},
                                             engine, fwd);
  memory x(src, engine), y(dst, engine), ws(fwd.workspace_desc(), engine), dy(dst, engine), dx(src, engine);
  dnnl::pooling_forward f(fwd);
  dnnl::pooling_backward b(bwd);
  for (auto _ : state) {
    f.execute(stream, {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}, {DNNL_ARG_WORKSPACE, ws}});
    if (backward) b.execute(stream, {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_SRC, dx}, {DNNL_ARG_WORKSPACE, ws}});
    stream.wait();
  }
}

void op_batch_norm(benchmark::State& state, bool backward) {
  const md::Shape shape = shape_of(state);
  const md::Tensor x = md::random::normal(shape, 0, 1, 1);
  const md::Tensor dy = md::random::normal(shape, 0, 1, 2);
  const md::Variable gamma(md::Tensor::ones({shape[3]}), "gamma");
  const md::Variable beta(md::Tensor::zeros({shape[3]}), "beta");
  for (auto _ : state) {
    if (!backward) {
      benchmark::DoNotOptimize(md::ops::fused_batch_normalization(x, gamma.value(), beta.value()));
      continue;
    }
    md::GradientTape tape;
    tape.watch(x);
    const md::Tensor y = md::ops::fused_batch_normalization(x, gamma.value(), beta.value());
    benchmark::DoNotOptimize(tape.gradient(y, {x, gamma, beta}, {dy}));
  }
}

void raw_batch_norm(benchmark::State& state, bool backward, bool blocked) {
  const md::Shape shape = shape_of(state);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const memory::desc data({shape[0], shape[3], shape[1], shape[2]}, memory::data_type::f32, layout(blocked));
  const memory::desc channels({shape[3]}, memory::data_type::f32, memory::format_tag::a);
  const auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
  dnnl::batch_normalization_forward::primitive_desc fwd({dnnl::prop_kind::forward_training, data, 1e-3f, flags},
                                                        engine);
  dnnl::batch_normalization_backward::primitive_desc bwd({dnnl::prop_kind::backward, data, data, 1e-3f, flags}, engine,
                                                         fwd);
  memory x(data, engine), y(data, engine), dy(data, engine), dx(data, engine);
  memory scale(channels, engine), shift(channels, engine), mean(channels, engine), var(channels, engine),
      dscale(channels, engine), dshift(channels, engine);
  dnnl::batch_normalization_forward f(fwd);
  dnnl::batch_normalization_backward b(bwd);
  for (auto _ : state) {
    f.execute(stream, {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}, {DNNL_ARG_SCALE, scale}, {DNNL_ARG_SHIFT, shift},
                       {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var}});
    if (backward) {
      b.execute(stream, {{DNNL_ARG_SRC, x}, {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var}, {DNNL_ARG_DIFF_DST, dy},
                         {DNNL_ARG_SCALE, scale}, {DNNL_ARG_SHIFT, shift}, {DNNL_ARG_DIFF_SRC, dx},
                         {DNNL_ARG_DIFF_SCALE, dscale}, {DNNL_ARG_DIFF_SHIFT, dshift}});
    }
    stream.wait();
  }
}

void shapes(benchmark::internal::Benchmark* b) {
  b->Args({28, 32})->Args({14, 64})->ArgNames({"hw", "c"})->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK_CAPTURE(op_max_pool, fwd, false)->Apply(shapes);
BENCHMARK_CAPTURE(raw_max_pool, fwd, false, false)->Apply(shapes);
BENCHMARK_CAPTURE(raw_max_pool, fwd_blocked, false, true)->Apply(shapes);
BENCHMARK_CAPTURE(op_max_pool, fwd_bwd, true)->Apply(shapes);
BENCHMARK_CAPTURE(raw_max_pool, fwd_bwd, true, false)->Apply(shapes);
BENCHMARK_CAPTURE(raw_max_pool, fwd_bwd_blocked, true, true)->Apply(shapes);
BENCHMARK_CAPTURE(op_batch_norm, fwd, false)->Apply(shapes);
BENCHMARK_CAPTURE(raw_batch_norm, fwd, false, false)->Apply(shapes);
BENCHMARK_CAPTURE(raw_batch_norm, fwd_blocked, false, true)->Apply(shapes);
BENCHMARK_CAPTURE(op_batch_norm, fwd_bwd, true)->Apply(shapes);
BENCHMARK_CAPTURE(raw_batch_norm, fwd_bwd, true, false)->Apply(shapes);
BENCHMARK_CAPTURE(raw_batch_norm, fwd_bwd_blocked, true, true)->Apply(shapes);

BENCHMARK_MAIN();

// Conv2D (3x3, same, stride 1) forward and forward+backward through md::ops::conv against the
// raw oneDNN primitives, at the same shapes and thread count:
//   raw nhwc     the primitives minidl creates (plain channels-last activations, weights in the
//                layout oneDNN chooses), with the weights already in that layout: what minidl
//                adds is the Keras-layout kernel reorder, the output allocation and the tape;
//   raw blocked  every tensor in oneDNN's chosen (blocked) layout, no reorder counted: the best
//                oneDNN does on this machine.
//   build/bench/conv_bench [--threads 2] [--rounds 7]
// Prints one line per shape and pass with the median time of each and the ratio op / raw.
#include <minidl/minidl.h>
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace md = minidl;
using dnnl::memory;

namespace {

struct Shape {
  int64_t n, h, w, c, filters;
};

double median_ms(const std::function<void()>& run, int rounds, int iterations) {
  for (int i = 0; i < 2; ++i) run();  // warm up: primitive creation, first-touch memory
  std::vector<double> times;
  for (int r = 0; r < rounds; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iterations; ++i) run();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() /
                    iterations);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// The three oneDNN primitives of one 3x3 same convolution, created once, with their memories.
struct Raw {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  dnnl::convolution_forward forward;
  dnnl::convolution_backward_data backward_data;
  dnnl::convolution_backward_weights backward_weights;
  memory src, weights, weights_bwd, dst, diff_dst, diff_src, diff_weights;

  Raw(const Shape& s, bool blocked) {
    const memory::format_tag activations = blocked ? memory::format_tag::any : memory::format_tag::nhwc;
    const auto src_md = memory::desc({s.n, s.c, s.h, s.w}, memory::data_type::f32, activations);
    const auto dst_md = memory::desc({s.n, s.filters, s.h, s.w}, memory::data_type::f32, activations);
    const auto weights_md = memory::desc({s.filters, s.c, 3, 3}, memory::data_type::f32, memory::format_tag::any);
    const memory::dims strides{1, 1}, dilation{0, 0}, pad{1, 1};
    dnnl::convolution_forward::primitive_desc fwd(
        {dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src_md, weights_md, dst_md, strides,
         dilation, pad, pad},
        engine);
    dnnl::convolution_backward_data::primitive_desc bwd_data(
        {dnnl::algorithm::convolution_direct, src_md, weights_md, dst_md, strides, dilation, pad, pad}, engine, fwd);
    dnnl::convolution_backward_weights::primitive_desc bwd_weights(
        {dnnl::algorithm::convolution_direct, src_md, weights_md, dst_md, strides, dilation, pad, pad}, engine, fwd);
    forward = dnnl::convolution_forward(fwd);
    backward_data = dnnl::convolution_backward_data(bwd_data);
    backward_weights = dnnl::convolution_backward_weights(bwd_weights);
    std::printf("#   raw %s: fwd %s, bwd_data %s, bwd_weights %s\n", blocked ? "blocked" : "nhwc   ",
                fwd.impl_info_str(), bwd_data.impl_info_str(), bwd_weights.impl_info_str());
    src = fill(memory(fwd.src_desc(), engine));
    weights = fill(memory(fwd.weights_desc(), engine));
    weights_bwd = fill(memory(bwd_data.weights_desc(), engine));
    dst = memory(fwd.dst_desc(), engine);
    diff_dst = fill(memory(bwd_weights.diff_dst_desc(), engine));
    diff_src = memory(bwd_data.diff_src_desc(), engine);
    diff_weights = memory(bwd_weights.diff_weights_desc(), engine);
  }
  static memory fill(memory m) {
    auto* p = static_cast<float*>(m.get_data_handle());
    const size_t n = m.get_desc().get_size() / sizeof(float);
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<float>((i * 7919) % 17) * 0.1f - 0.8f;
    return m;
  }
  void run_forward() {
    forward.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}});
    stream.wait();
  }
  void run_backward() {
    backward_data.execute(stream,
                          {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_WEIGHTS, weights_bwd}, {DNNL_ARG_DIFF_SRC, diff_src}});
    backward_weights.execute(
        stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_DIFF_WEIGHTS, diff_weights}});
    stream.wait();
  }
};

md::Tensor uniform(const std::vector<int64_t>& shape, uint64_t seed) {
  return md::random::uniform(shape, -1.0f, 1.0f, seed);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, rounds = 7;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
  }
  md::set_num_threads(threads);
  std::printf("# conv_bench: Conv2D 3x3 same, %d threads, median of %d rounds (ms per call)\n", threads, rounds);
  std::printf("%-22s %-8s %9s %9s %9s %8s %8s\n", "shape", "pass", "op", "raw_nhwc", "raw_blk", "op/nhwc", "op/blk");
  for (const Shape& s : {Shape{64, 28, 28, 1, 32}, Shape{64, 14, 14, 32, 64}, Shape{64, 7, 7, 64, 64}}) {
    const md::Tensor x = uniform({s.n, s.h, s.w, s.c}, 1);
    const md::Variable kernel(uniform({3, 3, s.c, s.filters}, 2), "kernel");
    const md::Tensor dy = uniform({s.n, s.h, s.w, s.filters}, 3);
    const md::ops::ConvOptions same{.padding = "same"};
    const int iterations = 5;
    Raw nhwc(s, false), blocked(s, true);

    const double op_fwd = median_ms([&] { (void)md::ops::conv(x, kernel.value(), same); }, rounds, iterations);
    const double op_both = median_ms(
        [&] {
          md::GradientTape tape;
          tape.watch(x);
          const md::Tensor y = md::ops::conv(x, kernel.value(), same);
          (void)tape.gradient(y, {x, kernel.value()}, {dy});
        },
        rounds, iterations);
    const double raw_fwd = median_ms([&] { nhwc.run_forward(); }, rounds, iterations);
    const double raw_both = median_ms([&] { nhwc.run_forward(); nhwc.run_backward(); }, rounds, iterations);
    const double blk_fwd = median_ms([&] { blocked.run_forward(); }, rounds, iterations);
    const double blk_both = median_ms([&] { blocked.run_forward(); blocked.run_backward(); }, rounds, iterations);
    const std::string name = std::to_string(s.n) + "x" + std::to_string(s.h) + "x" + std::to_string(s.w) + "x" +
                             std::to_string(s.c) + "->" + std::to_string(s.filters);
    std::printf("%-22s %-8s %9.3f %9.3f %9.3f %8.3f %8.3f\n", name.c_str(), "fwd", op_fwd, raw_fwd, blk_fwd,
                op_fwd / raw_fwd, op_fwd / blk_fwd);
    std::printf("%-22s %-8s %9.3f %9.3f %9.3f %8.3f %8.3f\n", name.c_str(), "fwd+bwd", op_both, raw_both, blk_both,
                op_both / raw_both, op_both / blk_both);
    std::fflush(stdout);
  }
  return 0;
}

// Convolutions on oneDNN's convolution primitives (backend.h has the contract).
//
// Layouts: oneDNN 2.6's jit:avx2 / jit:avx512 kernels run on plain channels-last activations
// (nwc, nhwc, ndhwc) as fast as on their blocked layouts (bench/conv_bench, bench/RESULTS.md),
// so activations stay in the user's layout and only the kernel goes through a reorder: the
// primitive chooses its weights layout (format_tag::any), and the Keras-layout kernel is
// reordered into it (forward, backward-data) or out of it (backward-weights) on each call.
// When oneDNN would run a ref:* kernel on the plain activations (channels-first shapes it has no
// jit kernel for), the activations get format_tag::any too and are reordered at the boundary.
#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "minidl/core/backend/backend.h"
#include "minidl/core/backend/detail/dnnl_context.h"

namespace minidl::backend {
namespace {

using dnnl::memory;

enum class Pass { forward, backward_data, backward_weights };

const char* pass_name(Pass pass) {
  switch (pass) {
    case Pass::forward: return "fwd";
    case Pass::backward_data: return "bwd_data";
    case Pass::backward_weights: return "bwd_weights";
  }
  return "?";
}

memory::dims to_dims(const Dims& d) { return memory::dims(d.begin(), d.end()); }

// (batch, channels, spatial...) over the user's buffer, channels last or first.
memory::desc activation_desc(int64_t batch, int64_t channels, const Dims& spatial, bool channels_first) {
  const size_t rank = spatial.size();
  memory::dims dims{batch, channels}, strides(rank + 2);
  dims.insert(dims.end(), spatial.begin(), spatial.end());
  int64_t stride = channels_first ? 1 : channels;
  for (size_t i = rank; i-- > 0;) {
    strides[i + 2] = stride;
    stride *= spatial[i];
  }
  if (channels_first) {
    strides[1] = stride;
    stride *= channels;
  } else {
    strides[1] = 1;
  }
  strides[0] = stride;
  return memory::desc(dims, memory::data_type::f32, strides);
}

// oneDNN's weights dims: (out, in, kernel...) or, grouped, (groups, out/g, in/g, kernel...).
memory::dims weights_dims(const ConvGeometry& g) {
  memory::dims dims;
  if (g.groups > 1) dims.push_back(g.groups);
  dims.push_back(g.out_channels / g.groups);
  dims.push_back(g.in_channels / g.groups);
  dims.insert(dims.end(), g.kernel.begin(), g.kernel.end());
  return dims;
}

// The Keras kernel (kernel..., in/g, out) seen through oneDNN's weights dims.
memory::desc keras_weights_desc(const ConvGeometry& g) {
  const int64_t out = g.out_channels, in_per_group = g.in_channels / g.groups, out_per_group = out / g.groups;
  memory::dims strides;
  if (g.groups > 1) strides.push_back(out_per_group);
  strides.push_back(1);    // output channel within its group
  strides.push_back(out);  // input channel within its group
  std::vector<int64_t> kernel_strides(g.kernel.size());
  int64_t stride = in_per_group * out;
  for (size_t i = g.kernel.size(); i-- > 0;) {
    kernel_strides[i] = stride;
    stride *= g.kernel[i];
  }
  strides.insert(strides.end(), kernel_strides.begin(), kernel_strides.end());
  return memory::desc(weights_dims(g), memory::data_type::f32, strides);
}

memory::desc any_desc(const memory::dims& dims) {
  return memory::desc(dims, memory::data_type::f32, memory::format_tag::any);
}

// The three descriptors a pass is created with: the user's plain activations, or `any` for all.
struct Descs {
  memory::desc src, weights, dst;
};
Descs descs(const ConvGeometry& g, bool any_activations) {
  const memory::desc src = activation_desc(g.batch, g.in_channels, g.in_spatial, g.channels_first);
  const memory::desc dst = activation_desc(g.batch, g.out_channels, g.out_spatial, g.channels_first);
  if (!any_activations) return {src, any_desc(weights_dims(g)), dst};
  return {any_desc(src.dims()), any_desc(weights_dims(g)), any_desc(dst.dims())};
}

memory::dims dilation(const ConvGeometry& g) {
  memory::dims d;
  for (int64_t v : g.dilation) d.push_back(v - 1);  // oneDNN counts the gaps
  return d;
}

dnnl::convolution_forward::primitive_desc forward_pd(const ConvGeometry& g, const Descs& d) {
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, d.src,
                                       d.weights, d.dst, to_dims(g.strides), dilation(g), to_dims(g.pad_before),
                                       to_dims(g.pad_after));
  return dnnl::convolution_forward::primitive_desc(desc, detail::engine());
}

dnnl::primitive_desc pass_pd(Pass pass, const ConvGeometry& g, const Descs& d) {
  if (pass == Pass::forward) return forward_pd(g, d);
  const auto hint = forward_pd(g, d);
  if (pass == Pass::backward_data) {
    dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, d.src, d.weights, d.dst,
                                               to_dims(g.strides), dilation(g), to_dims(g.pad_before),
                                               to_dims(g.pad_after));
    return dnnl::convolution_backward_data::primitive_desc(desc, detail::engine(), hint);
  }
  dnnl::convolution_backward_weights::desc desc(dnnl::algorithm::convolution_direct, d.src, d.weights, d.dst,
                                                to_dims(g.strides), dilation(g), to_dims(g.pad_before),
                                                to_dims(g.pad_after));
  return dnnl::convolution_backward_weights::primitive_desc(desc, detail::engine(), hint);
}

bool is_reference_pd(const dnnl::primitive_desc& pd) { return std::string(pd.impl_info_str()).rfind("ref", 0) == 0; }

// The pass on plain activations, or on `any` ones when the plain ones would run a ref kernel.
dnnl::primitive_desc choose_pd(Pass pass, const ConvGeometry& g) {
  dnnl::primitive_desc plain = pass_pd(pass, g, descs(g, false));
  if (!is_reference_pd(plain)) return plain;
  dnnl::primitive_desc blocked = pass_pd(pass, g, descs(g, true));
  return is_reference_pd(blocked) ? plain : blocked;
}

// The arguments of a pass, in the order run() takes its buffers: src, weights, dst roles.
std::vector<int> argument_ids(Pass pass) {
  switch (pass) {
    case Pass::forward: return {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
    case Pass::backward_data: return {DNNL_ARG_DIFF_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_DST};
    case Pass::backward_weights: return {DNNL_ARG_SRC, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_DST};
  }
  return {};
}

// Which of the three roles (src, weights, dst) the pass writes.
int output_role(Pass pass) {
  switch (pass) {
    case Pass::forward: return 2;
    case Pass::backward_data: return 0;
    case Pass::backward_weights: return 1;
  }
  return 2;
}

std::string geometry_key(Pass pass, const ConvGeometry& g) {
  return detail::KeyBuilder("conv")
      .add(pass_name(pass))
      .add(g.channels_first ? "channels_first" : "channels_last")
      .add(Dims{g.batch, g.in_channels, g.out_channels, g.groups})
      .add(g.in_spatial)
      .add(g.out_spatial)
      .add(g.kernel)
      .add(g.strides)
      .add(g.dilation)
      .add(g.pad_before)
      .add(g.pad_after)
      .str();
}

// Scratch for the reordered operands of one call, per role, kept per thread (grow only).
float* scratch(int role, size_t bytes) {
  thread_local std::vector<float> buffers[3];
  std::vector<float>& buffer = buffers[role];
  const size_t floats = (bytes + sizeof(float) - 1) / sizeof(float);
  if (buffer.size() < floats) buffer.resize(floats);
  return buffer.data();
}

// Up to this many elements a reorder runs on one thread: a kernel is a few ten thousand floats,
// less work than the OpenMP region that would split it (and on a loaded machine a region's
// barrier can wait a whole scheduler slice).
constexpr int64_t kSingleThreadReorder = 1 << 18;

// Runs (a cached) reorder from `from` to `to`.
void reorder(const std::string& key, const memory::desc& from, const float* source, const memory::desc& to,
             float* destination) {
  const detail::OneThreadScope one_thread(static_cast<int64_t>(to.get_size() / sizeof(float)) <= kSingleThreadReorder);
  auto& entry = detail::thread_primitive(
      key, [&] { return dnnl::reorder::primitive_desc(detail::engine(), from, detail::engine(), to); },
      [&] {
        return std::vector<detail::ArgumentDesc>{{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
      });
  entry.run({source, destination});
}

// One pass: `buffers` are the user's src, weights and dst (each an input or the output, by pass).
void run_pass(Pass pass, const ConvGeometry& g, std::array<float*, 3> buffers) {
  detail::ensure_initialized();
  const int64_t in_elements = g.batch * g.in_channels * detail::product(g.in_spatial);
  const int64_t out_elements = g.batch * g.out_channels * detail::product(g.out_spatial);
  const int64_t weight_elements = g.in_channels / std::max<int64_t>(g.groups, 1) * g.out_channels *
                                  detail::product(g.kernel);
  const int role_out = output_role(pass);
  const std::array<int64_t, 3> sizes{in_elements, weight_elements, out_elements};
  if (sizes[role_out] == 0) return;
  if (in_elements == 0 || out_elements == 0 || weight_elements == 0) {
    fill(buffers[role_out], sizes[role_out], 0.0f);  // an empty sum
    return;
  }
  const std::string key = geometry_key(pass, g);
  const std::vector<int> ids = argument_ids(pass);
  auto& conv = detail::thread_primitive(
      key, [&] { return choose_pd(pass, g); },
      [&] {
        const dnnl::primitive_desc pd = choose_pd(pass, g);
        std::vector<detail::ArgumentDesc> arguments;
        for (int id : ids) arguments.push_back({id, pd.query_md(dnnl::query::exec_arg_md, id)});
        return arguments;
      });
  const Descs user{activation_desc(g.batch, g.in_channels, g.in_spatial, g.channels_first), keras_weights_desc(g),
                   activation_desc(g.batch, g.out_channels, g.out_spatial, g.channels_first)};
  const std::array<const memory::desc*, 3> user_descs{&user.src, &user.weights, &user.dst};
  std::array<float*, 3> operands = buffers;
  std::array<memory::desc, 3> chosen;
  for (int role = 0; role < 3; ++role) {
    chosen[role] = conv.argument_desc(static_cast<size_t>(role));
    if (chosen[role] == *user_descs[role]) continue;
    operands[role] = scratch(role, chosen[role].get_size());
    if (role != role_out) {
      reorder(key + " in" + std::to_string(role), *user_descs[role], buffers[role], chosen[role], operands[role]);
    }
  }
  conv.run({operands[0], operands[1], operands[2]});
  if (operands[role_out] != buffers[role_out]) {
    reorder(key + " out", chosen[role_out], operands[role_out], *user_descs[role_out], buffers[role_out]);
  }
}

}  // namespace

void conv_forward(const ConvGeometry& g, const float* x, const float* w, float* y) {
  run_pass(Pass::forward, g, {const_cast<float*>(x), const_cast<float*>(w), y});
}

void conv_backward_data(const ConvGeometry& g, const float* w, const float* dy, float* dx) {
  run_pass(Pass::backward_data, g, {dx, const_cast<float*>(w), const_cast<float*>(dy)});
}

void conv_backward_weights(const ConvGeometry& g, const float* x, const float* dy, float* dw) {
  run_pass(Pass::backward_weights, g, {const_cast<float*>(x), dw, const_cast<float*>(dy)});
}

}  // namespace minidl::backend

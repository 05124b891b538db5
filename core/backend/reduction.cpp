#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "minidl/core/backend/backend.h"
#include "minidl/core/backend/detail/dnnl_context.h"
#include "minidl/core/backend/detail/loops.h"

namespace minidl::backend {
namespace {

// Partial reductions run as sums; a mean divides once at the end.
ReduceOp stage_op(ReduceOp op) { return op == ReduceOp::mean ? ReduceOp::sum : op; }

float identity(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
      return 0.0f;
    case ReduceOp::mean:
      return std::numeric_limits<float>::quiet_NaN();
    case ReduceOp::max:
      return -std::numeric_limits<float>::infinity();
    case ReduceOp::min:
      return std::numeric_limits<float>::infinity();
  }
  return 0.0f;
}

float combine(ReduceOp op, float acc, float v) {
  switch (op) {
    case ReduceOp::max:
      return detail::nan_max(acc, v);
    case ReduceOp::min:
      return detail::nan_min(acc, v);
    default:
      return acc + v;
  }
}

dnnl::algorithm to_dnnl(ReduceOp op) {
  switch (op) {
    case ReduceOp::max:
      return dnnl::algorithm::reduction_max;
    case ReduceOp::min:
      return dnnl::algorithm::reduction_min;
    case ReduceOp::mean:
      return dnnl::algorithm::reduction_mean;
    default:
      return dnnl::algorithm::reduction_sum;
  }
}

// Up to this many input elements, reduce_inner runs our loop instead of oneDNN: a reduction
// primitive's key, lookup and execute cost about 1 us, more than our loop needs for 4K elements,
// and the small reductions of a training step (bias gradients, a loss's mean) pay it every step
// (bench/autograd_bench's 32-32-1 step: 13% of it was in compute::reduce).
constexpr int64_t kSmallReduceElements = 1 << 12;

// One row reduced in our loop. Sums run in eight interleaved partial sums, which vectorise and
// round less than one running sum; max/min carry a NaN through (detail::nan_max).
float reduce_row(ReduceOp op, const float* row, int64_t length) {
  if (op == ReduceOp::max || op == ReduceOp::min) {
    float acc = row[0];
    for (int64_t j = 1; j < length; ++j) acc = combine(op, acc, row[j]);
    return acc;
  }
  constexpr int64_t kLanes = 8;
  float lanes[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= length; j += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) lanes[l] += row[j + l];
  }
  float acc = 0.0f;
  for (; j < length; ++j) acc += row[j];
  for (int64_t l = 0; l < kLanes; ++l) acc += lanes[l];
  return op == ReduceOp::mean ? acc / static_cast<float>(length) : acc;
}

// (rows, length) -> (rows): the innermost axis, which oneDNN reduces with a JIT kernel.
void reduce_inner(ReduceOp op, const float* x, int64_t rows, int64_t length, float* out) {
  if (rows * length <= kSmallReduceElements) {
    for (int64_t r = 0; r < rows; ++r) out[r] = reduce_row(op, x + r * length, length);
    return;
  }
  const Dims src = {rows, length}, dst = {rows, 1};
  const detail::OneThreadScope one_thread(rows * length <= detail::kSingleThreadElements);
  const std::string key = detail::KeyBuilder("reduction").add(reduce_op_name(op)).add(src).str();
  const auto& entry = detail::thread_primitive(
      key,
      [&] {
        dnnl::reduction::desc desc(to_dnnl(op), detail::dense_desc(src), detail::dense_desc(dst), 0.0f, 0.0f);
        return dnnl::reduction::primitive_desc(desc, detail::engine());
      },
      [&] {
        return std::vector<detail::ArgumentDesc>{{DNNL_ARG_SRC, detail::dense_desc(src)},
                                                 {DNNL_ARG_DST, detail::dense_desc(dst)}};
      });
  // oneDNN's max/min drop NaNs (see detail::nan_max); a row holding one goes to our loop.
  const bool nan_matters = op == ReduceOp::max || op == ReduceOp::min;
  if (!entry.is_reference() && !(nan_matters && detail::any_nan(x, rows * length))) {
    entry.run({x, out});
    return;
  }
  if (entry.is_reference()) detail::mark_unused(key);
  detail::parallel_for(rows, rows * length > detail::kParallelGrain ? 1 : rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) out[r] = reduce_row(op, x + r * length, length);
  });
}

// (outer, length, inner) -> (outer, inner): a middle axis, which oneDNN 2.6 only reduces with
// ref:any. Our loop streams whole contiguous inner rows, so it vectorises.
void reduce_middle(ReduceOp op, const float* x, int64_t outer, int64_t length, int64_t inner, float* out) {
  constexpr int64_t kBlock = 512;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  // One block of up to kBlock contiguous inner entries of one outer index.
  const auto reduce_block = [&](int64_t o, int64_t blk) {
    const int64_t begin = blk * kBlock;
    const int64_t count = std::min(kBlock, inner - begin);
    float* dst = out + o * inner + begin;
    const float* src = x + o * length * inner + begin;
    std::copy_n(src, count, dst);
    for (int64_t r = 1; r < length; ++r) {
      const float* row = src + r * inner;
      switch (op) {
        case ReduceOp::max:
          for (int64_t j = 0; j < count; ++j) dst[j] = detail::nan_max(dst[j], row[j]);
          break;
        case ReduceOp::min:
          for (int64_t j = 0; j < count; ++j) dst[j] = detail::nan_min(dst[j], row[j]);
          break;
        default:
          for (int64_t j = 0; j < count; ++j) dst[j] += row[j];
      }
    }
  };
  // detail::parallel_for keeps a reduction below the grain (a small model's bias gradients) out
  // of OpenMP: an `if` clause that is false still enters a one-thread region, ~2,000
  // instructions, 2% of bench/autograd_bench's 32-32-1 step. The grain here counts elements, not
  // blocks, hence the whole range as the grain when the work is small.
  const int64_t tasks = outer * blocks;
  const bool small = outer * length * inner <= detail::kParallelGrain;
  detail::parallel_for(tasks, small ? tasks : 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) reduce_block(t / blocks, t % blocks);
  });
}

}  // namespace

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
      return "sum";
    case ReduceOp::mean:
      return "mean";
    case ReduceOp::max:
      return "max";
    case ReduceOp::min:
      return "min";
  }
  return "?";
}

void reduce(ReduceOp op, const float* x, const Dims& shape, const std::vector<int>& axes, float* out) {
  detail::ensure_initialized();
  std::vector<bool> reduced(shape.size(), false);
  for (int a : axes) reduced[a] = true;
  int64_t kept_count = 1, reduced_count = 1;
  for (size_t i = 0; i < shape.size(); ++i) (reduced[i] ? reduced_count : kept_count) *= shape[i];
  if (kept_count == 0) return;
  if (reduced_count == 0) {
    fill(out, kept_count, identity(op));
    return;
  }

  // Merge neighbouring axes of the same kind; size-1 axes change nothing.
  struct Group {
    int64_t size;
    bool reduced;
  };
  std::vector<Group> groups;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!groups.empty() && groups.back().reduced == reduced[i]) {
      groups.back().size *= shape[i];
    } else {
      groups.push_back({shape[i], reduced[i]});
    }
  }

  const bool any_reduced = std::any_of(groups.begin(), groups.end(), [](const Group& g) { return g.reduced; });
  if (!any_reduced) {
    copy(x, out, kept_count);
    return;
  }
  if (groups.size() == 1) {  // everything reduces to one value
    reduce_inner(op, x, 1, reduced_count, out);
    return;
  }
  if (groups.size() == 2 && groups[1].reduced) {  // the common (rows, length) case: one primitive
    reduce_inner(op, x, groups[0].size, groups[1].size, out);
    return;
  }

  // General case: peel reduced groups off from the innermost one, one stage at a time.
  const ReduceOp stage = stage_op(op);
  std::unique_ptr<float[]> buffers[2];
  const float* current = x;
  int which = 0;
  while (true) {
    int last_reduced = -1;
    for (int g = static_cast<int>(groups.size()) - 1; g >= 0; --g) {
      if (groups[g].reduced) {
        last_reduced = g;
        break;
      }
    }
    if (last_reduced < 0) break;
    int64_t before = 1, after = 1;
    for (int g = 0; g < last_reduced; ++g) before *= groups[g].size;
    for (size_t g = last_reduced + 1; g < groups.size(); ++g) after *= groups[g].size;
    const bool final_stage = [&] {
      for (int g = 0; g < last_reduced; ++g) {
        if (groups[g].reduced) return false;
      }
      return true;
    }();
    float* target = out;
    if (!final_stage) {
      buffers[which].reset(new float[before * after]);
      target = buffers[which].get();
    }
    if (after == 1) {
      reduce_inner(stage, current, before, groups[last_reduced].size, target);
    } else {
      reduce_middle(stage, current, before, groups[last_reduced].size, after, target);
    }
    // The kept neighbours of the removed group become one group.
    groups.erase(groups.begin() + last_reduced);
    if (last_reduced > 0 && static_cast<size_t>(last_reduced) < groups.size()) {
      groups[last_reduced - 1].size *= groups[last_reduced].size;
      groups.erase(groups.begin() + last_reduced);
    }
    current = target;
    which ^= 1;
    if (final_stage) break;
  }
  if (op == ReduceOp::mean) {
    const float scale = 1.0f / static_cast<float>(reduced_count);
    for (int64_t i = 0; i < kept_count; ++i) out[i] *= scale;
  }
}

}  // namespace minidl::backend

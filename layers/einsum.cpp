#include "minidl/layers/einsum.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "minidl/autograd/ops.h"
#include "minidl/core/error.h"

namespace minidl::layers {
namespace {

[[noreturn]] void unsupported(const std::string& equation, const std::string& why) {
  throw ValueError(fmt::format("Unsupported einsum equation '{}': {}.", equation, why));
}

bool has(const std::string& s, char c) { return s.find(c) != std::string::npos; }

// The equation with "..." replaced by letters it does not use, and its three label strings.
struct Parsed {
  std::string a, b, out;
};

Parsed parse(const std::string& equation, int64_t a_rank, int64_t b_rank) {
  const size_t arrow = equation.find("->");
  if (arrow == std::string::npos) unsupported(equation, "an explicit output ('->') is required");
  const std::string inputs = equation.substr(0, arrow);
  const size_t comma = inputs.find(',');
  if (comma == std::string::npos || inputs.find(',', comma + 1) != std::string::npos) {
    unsupported(equation, "exactly two operands are required");
  }
  Parsed p{inputs.substr(0, comma), inputs.substr(comma + 1), equation.substr(arrow + 2)};
  if (has(p.b, '.')) unsupported(equation, "'...' is supported in the first operand and the output only");
  const size_t dots = p.a.find("...");
  if (dots != std::string::npos || has(p.out, '.')) {
    const size_t out_dots = p.out.find("...");
    if (dots == std::string::npos || out_dots == std::string::npos) {
      unsupported(equation, "'...' must appear in both the first operand and the output");
    }
    const int64_t elided = a_rank - static_cast<int64_t>(p.a.size() - 3);
    if (elided < 0) unsupported(equation, fmt::format("the first operand has rank {}", a_rank));
    std::string letters;
    for (char c = 'A'; c <= 'Z' && static_cast<int64_t>(letters.size()) < elided; ++c) {
      if (!has(equation, c)) letters += c;
    }
    p.a.replace(dots, 3, letters);
    p.out.replace(out_dots, 3, letters);
  }
  for (const std::string* s : {&p.a, &p.b, &p.out}) {
    for (size_t i = 0; i < s->size(); ++i) {
      const char c = (*s)[i];
      if (!std::isalpha(static_cast<unsigned char>(c))) unsupported(equation, fmt::format("'{}' is not a letter", c));
      if (s->find(c, i + 1) != std::string::npos) {
        unsupported(equation, fmt::format("the letter '{}' repeats within '{}' (diagonals are not supported)", c, *s));
      }
    }
  }
  for (char c : p.out) {
    if (!has(p.a, c) && !has(p.b, c)) {
      unsupported(equation, fmt::format("the output letter '{}' is in neither operand", c));
    }
  }
  if (static_cast<int64_t>(p.a.size()) != a_rank || static_cast<int64_t>(p.b.size()) != b_rank) {
    throw ValueError(fmt::format("Einsum equation '{}' needs operands of rank {} and {}; received ranks {} and {}.",
                                 equation, p.a.size(), p.b.size(), a_rank, b_rank));
  }
  return p;
}

std::map<char, int64_t> label_sizes(const std::string& equation, const Parsed& p, const Shape& a, const Shape& b) {
  std::map<char, int64_t> sizes;
  auto add = [&](const std::string& labels, const Shape& shape) {
    for (size_t i = 0; i < labels.size(); ++i) {
      auto [it, inserted] = sizes.emplace(labels[i], shape[i]);
      if (inserted || shape[i] == None) continue;
      if (it->second == None) {
        it->second = shape[i];
      } else if (it->second != shape[i]) {
        throw ShapeError(fmt::format("Einsum equation '{}': the axis '{}' has size {} in one operand and {} in the "
                                     "other (shapes {} and {}).",
                                     equation, labels[i], it->second, shape[i], shape_to_string(a),
                                     shape_to_string(b)));
      }
    }
  };
  add(p.a, a);
  add(p.b, b);
  return sizes;
}

std::vector<int64_t> positions(const std::string& labels, const std::string& order) {
  std::vector<int64_t> out;
  for (char c : order) out.push_back(static_cast<int64_t>(labels.find(c)));
  return out;
}

bool is_identity(const std::vector<int64_t>& perm) {
  for (size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] != static_cast<int64_t>(i)) return false;
  }
  return true;
}

int64_t product(const std::map<char, int64_t>& sizes, const std::string& labels) {
  int64_t n = 1;
  for (char c : labels) n *= sizes.at(c);
  return n;
}

// One matmul operand: x with `labels`, laid out as (batch..., outer, inner) where `outer` and
// `inner` are each collapsed to one axis; `transposed` when it is cheaper to read the last two
// axes the other way round (matmul's flag does that for free).
struct Operand {
  Tensor x;
  bool transposed = false;
};

Operand arrange(Tensor x, std::string labels, const std::string& batch, const std::string& outer,
                const std::string& inner, const std::map<char, int64_t>& sizes) {
  Operand op;
  const std::string direct = batch + outer + inner;
  const std::string flipped = batch + inner + outer;
  std::string target = direct;
  if (labels == flipped && labels != direct) {
    target = flipped;
    op.transposed = true;
  }
  const std::vector<int64_t> perm = positions(labels, target);
  if (!is_identity(perm)) x = ops::transpose(x, perm);
  Shape shape;
  for (char c : batch) shape.push_back(sizes.at(c));
  const std::string& first = op.transposed ? inner : outer;
  const std::string& second = op.transposed ? outer : inner;
  shape.push_back(product(sizes, first));
  shape.push_back(product(sizes, second));
  if (shape != x.shape()) x = ops::reshape(x, shape);
  op.x = x;
  return op;
}

}  // namespace

Shape einsum_output_shape(const std::string& equation, const Shape& a, const Shape& b) {
  const Parsed p = parse(equation, static_cast<int64_t>(a.size()), static_cast<int64_t>(b.size()));
  const auto sizes = label_sizes(equation, p, a, b);
  Shape out;
  for (char c : p.out) out.push_back(sizes.at(c));
  return out;
}

Tensor einsum(const std::string& equation, const Tensor& a_in, const Tensor& b_in) {
  if (a_in.is_symbolic() || b_in.is_symbolic()) {
    return Tensor::symbolic(einsum_output_shape(equation, a_in.shape(), b_in.shape()), a_in.dtype());
  }
  Parsed p = parse(equation, a_in.ndim(), b_in.ndim());
  const auto sizes = label_sizes(equation, p, a_in.shape(), b_in.shape());
  Tensor a = a_in, b = b_in;

  // Letters only one operand has and the output lacks are summed out before the product.
  auto sum_out = [&](Tensor& x, std::string& labels, const std::string& other) {
    std::vector<int64_t> axes;
    std::string kept;
    for (size_t i = 0; i < labels.size(); ++i) {
      if (!has(other, labels[i]) && !has(p.out, labels[i])) {
        axes.push_back(static_cast<int64_t>(i));
      } else {
        kept += labels[i];
      }
    }
    if (!axes.empty()) {
      x = ops::sum(x, axes);
      labels = kept;
    }
  };
  sum_out(a, p.a, p.b);
  sum_out(b, p.b, p.a);

  std::string batch, free_a, free_b, contracted;
  for (char c : p.out) {
    if (has(p.a, c) && has(p.b, c)) {
      batch += c;
    } else if (has(p.a, c)) {
      free_a += c;
    } else {
      free_b += c;
    }
  }
  for (char c : p.a) {
    if (has(p.b, c) && !has(p.out, c)) contracted += c;
  }

  // The product gives (batch, rows, columns); the operand whose free letters come first in the
  // output gives the rows, so that the output often needs no final transpose.
  const bool a_first = free_a.empty() || free_b.empty() || p.out.find(free_a[0]) < p.out.find(free_b[0]);
  const Tensor& left_x = a_first ? a : b;
  const Tensor& right_x = a_first ? b : a;
  const std::string& left_labels = a_first ? p.a : p.b;
  const std::string& right_labels = a_first ? p.b : p.a;
  const std::string& rows = a_first ? free_a : free_b;
  const std::string& columns = a_first ? free_b : free_a;

  const Operand left = arrange(left_x, left_labels, batch, rows, contracted, sizes);
  const Operand right = arrange(right_x, right_labels, batch, contracted, columns, sizes);
  Tensor y = ops::matmul(left.x, right.x, left.transposed, right.transposed);

  const std::string produced = batch + rows + columns;
  Shape full;
  for (char c : produced) full.push_back(sizes.at(c));
  if (full != y.shape()) y = ops::reshape(y, full);
  const std::vector<int64_t> perm = positions(produced, p.out);
  if (!is_identity(perm)) y = ops::transpose(y, perm);
  return y;
}

}  // namespace minidl::layers

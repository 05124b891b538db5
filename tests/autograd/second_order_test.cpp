// Second (and third) derivatives through nested GradientTapes, used exactly as a user would
// (see the comment at the top of autograd/tape.h), compared with closed forms.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "autograd_helpers.h"

namespace md = minidl;

namespace {

const std::vector<float> kPoints = {-2.0f, -0.7f, -0.1f, 0.0f, 0.4f, 1.3f, 2.5f};

// First and second derivative of the elementwise f at kPoints, from two nested tapes.
std::pair<md::Tensor, md::Tensor> first_and_second(md::Tensor (*f)(const md::Tensor&)) {
  const md::Tensor x = md::Tensor::from_vector(kPoints, {static_cast<int64_t>(kPoints.size())});
  md::GradientTape outer;
  outer.watch(x);
  md::GradientTape inner;
  inner.watch(x);
  const md::Tensor y = f(x);
  const md::Tensor dy = inner.gradient(y, {x})[0];
  const md::Tensor d2y = outer.gradient(dy, {x})[0];
  return {dy, d2y};
}

// A small dense matrix in double for reference products.
struct Mat {
  int64_t rows = 0, cols = 0;
  std::vector<double> v;
  double& at(int64_t i, int64_t j) { return v[static_cast<size_t>(i * cols + j)]; }
  double at(int64_t i, int64_t j) const { return v[static_cast<size_t>(i * cols + j)]; }
};

Mat to_mat(const md::Tensor& t) {
  REQUIRE(t.ndim() == 2);
  return {t.dim(0), t.dim(1), agt::to_double(t)};
}

Mat transposed(const Mat& a) {
  Mat t{a.cols, a.rows, std::vector<double>(a.v.size())};
  for (int64_t i = 0; i < a.rows; ++i) {
    for (int64_t j = 0; j < a.cols; ++j) t.at(j, i) = a.at(i, j);
  }
  return t;
}

Mat product(const Mat& a, const Mat& b) {
  REQUIRE(a.cols == b.rows);
  Mat c{a.rows, b.cols, std::vector<double>(static_cast<size_t>(a.rows * b.cols), 0.0)};
  for (int64_t i = 0; i < a.rows; ++i) {
    for (int64_t j = 0; j < b.cols; ++j) {
      for (int64_t k = 0; k < a.cols; ++k) c.at(i, j) += a.at(i, k) * b.at(k, j);
    }
  }
  return c;
}

}  // namespace

TEST_CASE("second derivative of tanh is -2 t (1 - t^2)", "[autograd][second_order]") {
  const auto [dy, d2y] = first_and_second([](const md::Tensor& x) { return md::ops::tanh(x); });
  std::vector<double> first, second;
  for (float v : kPoints) {
    const double t = std::tanh(static_cast<double>(v));
    first.push_back(1 - t * t);
    second.push_back(-2 * t * (1 - t * t));
  }
  agt::check_close(dy, first, 1e-5, "tanh'");
  agt::check_close(d2y, second, 1e-5, "tanh''");
}

TEST_CASE("second derivative of sigmoid is s (1 - s) (1 - 2 s)", "[autograd][second_order]") {
  const auto [dy, d2y] = first_and_second([](const md::Tensor& x) { return md::ops::sigmoid(x); });
  std::vector<double> first, second;
  for (float v : kPoints) {
    const double s = 1 / (1 + std::exp(-static_cast<double>(v)));
    first.push_back(s * (1 - s));
    second.push_back(s * (1 - s) * (1 - 2 * s));
  }
  agt::check_close(dy, first, 1e-5, "sigmoid'");
  agt::check_close(d2y, second, 1e-5, "sigmoid''");
}

TEST_CASE("second derivative of exp is exp", "[autograd][second_order]") {
  const auto [dy, d2y] = first_and_second([](const md::Tensor& x) { return md::ops::exp(x); });
  std::vector<double> e;
  for (float v : kPoints) e.push_back(std::exp(static_cast<double>(v)));
  agt::check_close(dy, e, 1e-5, "exp'", 1e-5);
  agt::check_close(d2y, e, 1e-5, "exp''", 1e-5);
}

TEST_CASE("third derivative of tanh through three nested tapes", "[autograd][second_order]") {
  // tanh''' = d/dx (-2 t (1 - t^2)) = -2 (1 - t^2) (1 - 3 t^2)
  const md::Tensor x = md::Tensor::from_vector(kPoints, {static_cast<int64_t>(kPoints.size())});
  md::GradientTape t3;
  t3.watch(x);
  md::GradientTape t2;
  t2.watch(x);
  md::GradientTape t1;
  t1.watch(x);
  const md::Tensor y = md::ops::tanh(x);
  const md::Tensor d1 = t1.gradient(y, {x})[0];
  const md::Tensor d2 = t2.gradient(d1, {x})[0];
  const md::Tensor d3 = t3.gradient(d2, {x})[0];
  std::vector<double> expected;
  for (float v : kPoints) {
    const double t = std::tanh(static_cast<double>(v));
    expected.push_back(-2 * (1 - t * t) * (1 - 3 * t * t));
  }
  agt::check_close(d3, expected, 1e-4, "tanh'''");
}

TEST_CASE("second derivatives of a product", "[autograd][second_order]") {
  const md::Tensor x = md::Tensor::from_vector({1.5f, -2.0f, 0.5f}, {3});
  const md::Tensor y = md::Tensor::from_vector({0.25f, 3.0f, -1.0f}, {3});
  SECTION("d/dx sum(x * y) = y, whose gradient is ones in y and nothing in x") {
    md::GradientTape outer;
    outer.watch(x);
    outer.watch(y);
    md::GradientTape inner;
    inner.watch(x);
    inner.watch(y);
    const md::Tensor loss = md::ops::sum(x * y);
    const auto g = inner.gradient(loss, {x, y});
    agt::check_close(g[0], y, 0.0, "d/dx = y");
    agt::check_close(g[1], x, 0.0, "d/dy = x");
    const auto gg = outer.gradient(g[0], {x, y});
    CHECK_FALSE(gg[0].defined());  // y does not depend on x (TensorFlow's None)
    agt::check_close(gg[1], std::vector<double>{1, 1, 1}, 0.0, "d/dy sum(d/dx)");
  }
  SECTION("d/dx sum(x * x * y) = 2 x y; its gradients are 2 y and 2 x") {
    md::GradientTape outer(/*persistent=*/true);
    outer.watch(x);
    outer.watch(y);
    md::GradientTape inner;
    inner.watch(x);
    const md::Tensor loss = md::ops::sum(x * x * y);
    const md::Tensor gx = inner.gradient(loss, {x})[0];
    agt::check_close(gx, std::vector<double>{2 * 1.5 * 0.25, 2 * -2.0 * 3.0, 2 * 0.5 * -1.0}, 1e-6, "2 x y");
    const auto gg = outer.gradient(gx, {x, y});
    agt::check_close(gg[0], std::vector<double>{0.5, 6.0, -2.0}, 1e-6, "d2/dx2 = 2 y");
    agt::check_close(gg[1], std::vector<double>{3.0, -4.0, 1.0}, 1e-6, "d2/dxdy = 2 x");
  }
}

TEST_CASE("a gradient that does not depend on x has no second derivative", "[autograd][second_order]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2}, {2});
  md::GradientTape outer;
  outer.watch(x);
  md::GradientTape inner;
  inner.watch(x);
  const md::Tensor y = x * 3.0f + 1.0f;
  const md::Tensor dy = inner.gradient(y, {x})[0];
  agt::check_close(dy, std::vector<double>{3, 3}, 0.0, "dy/dx");
  CHECK_FALSE(outer.gradient(dy, {x})[0].defined());
}

TEST_CASE("second derivatives of matmul have the closed forms", "[autograd][second_order][linalg]") {
  // Logical operands A~ = op(A) (m x k), B~ = op(B) (k x n), op = transpose when the flag is set.
  // L = sum((A~ B~) * R)                  with R fixed (m x n)
  //   dL/dA~ = R B~^T                      dL/dB~ = A~^T R
  // M = sum(dL/dA~ * S~)   (S~ = op(S), S stored like A)
  //   = sum_ij S~_ij sum_l R_il B~_jl     => dM/dB~_jl = sum_i S~_ij R_il = (S~^T R)_jl;  dM/dA~ = 0
  // N = sum(dL/dB~ * T~)   (T~ = op(T), T stored like B)
  //   = sum_jl T~_jl sum_i A~_ij R_il     => dN/dA~_ij = sum_l R_il T~_jl = (R T~^T)_ij;  dN/dB~ = 0
  // The stored gradients are these transposed back when the flag is set. On the tape, dL/dA and
  // dL/dB (stored shapes) come from an inner tape; S, T multiply them in stored layout.
  std::mt19937 rng(601);
  const int64_t m = 2, k = 3, n = 4;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      INFO("transpose_a " << ta << " transpose_b " << tb);
      const md::Tensor a = agt::uniform(rng, ta ? agt::Dims{k, m} : agt::Dims{m, k});
      const md::Tensor b = agt::uniform(rng, tb ? agt::Dims{n, k} : agt::Dims{k, n});
      const md::Tensor r = agt::uniform(rng, {m, n});
      const md::Tensor s = agt::uniform(rng, a.shape());
      const md::Tensor t = agt::uniform(rng, b.shape());

      md::GradientTape outer(/*persistent=*/true);
      outer.watch(a);
      outer.watch(b);
      md::GradientTape inner;
      inner.watch(a);
      inner.watch(b);
      const md::Tensor loss = md::ops::sum(md::ops::matmul(a, b, ta, tb) * r);
      const auto g = inner.gradient(loss, {a, b});
      const md::Tensor mm = md::ops::sum(g[0] * s);
      const md::Tensor nn = md::ops::sum(g[1] * t);
      const auto dm = outer.gradient(mm, {a, b});
      const auto dn = outer.gradient(nn, {a, b});

      const Mat A = ta ? transposed(to_mat(a)) : to_mat(a);
      const Mat B = tb ? transposed(to_mat(b)) : to_mat(b);
      const Mat R = to_mat(r);
      const Mat S = ta ? transposed(to_mat(s)) : to_mat(s);
      const Mat T = tb ? transposed(to_mat(t)) : to_mat(t);
      const Mat dLdA = product(R, transposed(B)), dLdB = product(transposed(A), R);
      const Mat dMdB = product(transposed(S), R), dNdA = product(R, transposed(T));
      agt::check_close(g[0], (ta ? transposed(dLdA) : dLdA).v, 1e-5, "dL/dA");
      agt::check_close(g[1], (tb ? transposed(dLdB) : dLdB).v, 1e-5, "dL/dB");
      CHECK_FALSE(dm[0].defined());
      agt::check_close(dm[1], (tb ? transposed(dMdB) : dMdB).v, 1e-5, "dM/dB");
      agt::check_close(dn[0], (ta ? transposed(dNdA) : dNdA).v, 1e-5, "dN/dA");
      CHECK_FALSE(dn[1].defined());
    }
  }
}

TEST_CASE("softmax Hessian-vector products match the explicit Jacobian", "[autograd][second_order][softmax]") {
  // Along the softmax axis, p = softmax(x) has Jacobian J_ik = dp_i/dx_k = p_i (d_ik - p_k)
  // (J = diag(p) - p p^T), and dJ_ik/dx_m = J_im (d_ik - p_k) - p_i J_km.
  // softmax:      L = sum_i r_i p_i        g_k = sum_i r_i J_ik       H_km = sum_i r_i dJ_ik/dx_m
  // log_softmax:  L = sum_i r_i log p_i    g_k = r_k - p_k sum(r)     H_km = -sum(r) J_km
  // The tapes give g (inner) and H v = d/dx sum(g * v) (outer); each slice along the axis is
  // independent.
  std::mt19937 rng(602);
  struct Case {
    agt::Dims shape;
    int64_t axis;
  };
  for (const Case& c : {Case{{4}, 0}, Case{{2, 4}, -1}, Case{{3, 2}, 0}, Case{{2, 3, 2}, 1}}) {
    for (bool log : {false, true}) {
      INFO((log ? "log_softmax" : "softmax") << " on " << agt::str(c.shape) << " axis " << c.axis);
      const md::Tensor x = agt::uniform(rng, c.shape, -1.5f, 1.5f);
      const md::Tensor r = agt::uniform(rng, c.shape, -1.0f, 1.0f);
      const md::Tensor v = agt::uniform(rng, c.shape, -1.0f, 1.0f);
      md::GradientTape outer;
      outer.watch(x);
      md::GradientTape inner;
      inner.watch(x);
      const md::Tensor y = log ? md::ops::log_softmax(x, c.axis) : md::ops::softmax(x, c.axis);
      const md::Tensor g = inner.gradient(md::ops::sum(y * r), {x})[0];
      const md::Tensor hv = outer.gradient(md::ops::sum(g * v), {x})[0];

      // Reference, slice by slice: outer = dims before the axis, inner = dims after it.
      const int64_t ndim = static_cast<int64_t>(c.shape.size());
      const int64_t ax = c.axis < 0 ? c.axis + ndim : c.axis;
      int64_t before = 1, after = 1;
      for (int64_t d = 0; d < ax; ++d) before *= c.shape[static_cast<size_t>(d)];
      for (int64_t d = ax + 1; d < ndim; ++d) after *= c.shape[static_cast<size_t>(d)];
      const int64_t len = c.shape[static_cast<size_t>(ax)];
      const std::vector<double> xv = agt::to_double(x), rv = agt::to_double(r), vv = agt::to_double(v);
      std::vector<double> g_ref(xv.size()), hv_ref(xv.size());
      for (int64_t o = 0; o < before; ++o) {
        for (int64_t in = 0; in < after; ++in) {
          auto at = [&](int64_t i) { return static_cast<size_t>((o * len + i) * after + in); };
          std::vector<double> p(static_cast<size_t>(len));
          double mx = -1e300, z = 0, rsum = 0;
          for (int64_t i = 0; i < len; ++i) mx = std::max(mx, xv[at(i)]);
          for (int64_t i = 0; i < len; ++i) z += std::exp(xv[at(i)] - mx);
          for (int64_t i = 0; i < len; ++i) {
            p[static_cast<size_t>(i)] = std::exp(xv[at(i)] - mx) / z;
            rsum += rv[at(i)];
          }
          auto P = [&](int64_t i) { return p[static_cast<size_t>(i)]; };
          auto J = [&](int64_t i, int64_t kk) { return P(i) * ((i == kk ? 1.0 : 0.0) - P(kk)); };
          for (int64_t kk = 0; kk < len; ++kk) {
            double gk = 0;
            if (log) {
              gk = rv[at(kk)] - P(kk) * rsum;
            } else {
              for (int64_t i = 0; i < len; ++i) gk += rv[at(i)] * J(i, kk);
            }
            g_ref[at(kk)] = gk;
          }
          for (int64_t mIdx = 0; mIdx < len; ++mIdx) {
            double h = 0;
            for (int64_t kk = 0; kk < len; ++kk) {
              double hkm = 0;
              if (log) {
                hkm = -rsum * J(kk, mIdx);
              } else {
                for (int64_t i = 0; i < len; ++i) {
                  hkm += rv[at(i)] * (J(i, mIdx) * ((i == kk ? 1.0 : 0.0) - P(kk)) - P(i) * J(kk, mIdx));
                }
              }
              h += hkm * vv[at(kk)];
            }
            hv_ref[at(mIdx)] = h;
          }
        }
      }
      agt::check_close(g, g_ref, 1e-5, "first derivative");
      agt::check_close(hv, hv_ref, 1e-5, "Hessian-vector product");
    }
  }
}

TEST_CASE("Hessian-vector product of a small network with a Variable", "[autograd][second_order]") {
  // f(w) = sum(tanh(x w)) for fixed x: d/dw = x^T (1 - t^2), and d/dw sum(d/dw * v)
  // = x^T (-2 t (1 - t^2) * (x v)), t = tanh(x w).
  std::mt19937 rng(603);
  const md::Tensor x = agt::uniform(rng, {3, 2}, -1.0f, 1.0f);
  md::Variable w(agt::uniform(rng, {2, 2}, -1.0f, 1.0f), "w");
  const md::Tensor v = agt::uniform(rng, {2, 2}, -1.0f, 1.0f);
  md::GradientTape outer;  // trainable variables are watched by both tapes without watch()
  md::GradientTape inner;
  const md::Tensor f = md::ops::sum(md::ops::tanh(md::ops::matmul(x, w.value())));
  const md::Tensor g = inner.gradient(f, {w})[0];
  const md::Tensor hv = outer.gradient(md::ops::sum(g * v), {w})[0];

  const Mat X = to_mat(x), W = to_mat(w.value()), V = to_mat(v);
  Mat Z = product(X, W), XV = product(X, V);
  Mat D1 = Z, D2 = Z;
  for (size_t i = 0; i < Z.v.size(); ++i) {
    const double t = std::tanh(Z.v[i]);
    D1.v[i] = 1 - t * t;
    D2.v[i] = -2 * t * (1 - t * t) * XV.v[i];
  }
  agt::check_close(g, product(transposed(X), D1).v, 1e-5, "gradient");
  agt::check_close(hv, product(transposed(X), D2).v, 1e-5, "Hessian-vector product");
}

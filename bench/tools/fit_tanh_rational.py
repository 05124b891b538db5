#!/usr/bin/env python3
"""Fits the rational tanh used by the fused additive-attention kernels.

    tanh(x) ~= x * P(x^2) / Q(x^2),   |x| clamped to C,   P of degree 3, Q of degree 4 in x^2

(core/backend/detail/attention_row_kernels.h). Steps:
  1. a near-minimax fit in float64 on [0, C] by iteratively reweighted linear least squares
     (Lawson's algorithm on the linearised error x P - tanh(x) Q, weighted by 1/Q);
  2. rounding to float32, then a coordinate search over +-k ulps of each coefficient that
     minimises the max abs error of the float32 evaluation (Horner with and without FMA,
     correctly rounded division) against tanh in float64, on every float32 in [4.5, 8.2]
     (where the error peaks, next to t = 1) and every 64th float32 elsewhere in [0, 12].
It prints the coefficients as C++ constants. The kernels' tests check the max abs error
(<= 5e-7) on a grid; bench/tools/check_tanh_rational.cpp checks every float32 in [0, 12].

Usage: /usr/bin/python3 bench/tools/fit_tanh_rational.py   (numpy; about 5 minutes)
"""
import numpy as np

M, N = 3, 4  # degrees of P and Q in x^2
CLAMP = 8.0  # 1 - tanh(8) = 2.3e-7


def lawson_fit(m, n, c, iters=200, npts=6000):
    x = 0.5 * c * (1.0 - np.cos(np.linspace(0.0, np.pi, npts)))  # Chebyshev-spaced on [0, c]
    x = x[x > 1e-6]
    f, z = np.tanh(x), x * x
    q_prev, w = np.ones_like(x), np.full_like(x, 1.0 / x.size)
    best = None
    for _ in range(iters):
        # Unknowns p_0..p_m, q_1..q_n (q_0 = 1): minimise sum w (x P(z) - f Q(z))^2 / Q_prev^2.
        a = np.hstack([np.stack([x * z**k for k in range(m + 1)], 1), np.stack([-f * z**k for k in range(1, n + 1)], 1)])
        s = np.sqrt(w) / q_prev
        coef = np.linalg.lstsq(a * s[:, None], f * s, rcond=None)[0]
        p, q = coef[: m + 1], np.concatenate([[1.0], coef[m + 1 :]])
        qz = np.polyval(q[::-1], z)
        err = x * np.polyval(p[::-1], z) / qz - f
        e = np.abs(err).max()
        if best is None or e < best[0]:
            best = (e, p.copy(), q.copy())
        q_prev = qz
        w = w * (np.abs(err) / e + 1e-3)  # Lawson: shift weight towards the largest errors
        w /= w.sum()
    return best


def sample():
    lo, hi, end = (np.array([v], np.float32).view(np.uint32)[0] for v in (4.5, 8.2, 12.0))
    bits = np.concatenate([np.arange(0, lo, 64), np.arange(lo, hi, 1), np.arange(hi, end, 64)]).astype(np.uint32)
    xs = bits.view(np.float32)
    return xs, np.tanh(xs.astype(np.float64))


def evaluate(p, q, c, xs, fma):
    """The kernels' arithmetic in float32. fma=True rounds a*b+c once (via float64, exact for the
    product of two floats), fma=False rounds the product and the sum separately."""
    f32 = np.float32
    x = np.minimum(xs, f32(c))
    x2 = x * x

    def madd(acc, coef):
        if fma:
            return (acc.astype(np.float64) * x2 + np.float64(coef)).astype(f32)
        return acc * x2 + coef

    pp = np.full_like(x2, p[-1])
    for k in range(len(p) - 2, -1, -1):
        pp = madd(pp, p[k])
    qq = np.full_like(x2, q[-1])
    for k in range(len(q) - 2, -1, -1):
        qq = madd(qq, q[k])
    return (pp * x) / qq


def max_error(p, q, c, xs, ref):
    return max(np.abs(evaluate(p, q, c, xs, fma).astype(np.float64) - ref).max() for fma in (True, False))


def ulp_step(v, k):
    return (np.array([v], np.float32).view(np.int32) + np.int32(k)).view(np.float32)[0]


def main():
    e, p, q = lawson_fit(M, N, CLAMP)
    print(f"float64 fit: max abs error {e:.3g} on [0, {CLAMP}]")
    p, q = [np.float32(v) for v in p], [np.float32(v) for v in q]
    xs, ref = sample()
    best = max_error(p, q, CLAMP, xs, ref)
    print(f"float32 coefficients: max abs error {best:.4g} (worse of FMA / no FMA)")
    for sweep in range(4):
        improved = False
        for coefs, index in [(p, k) for k in range(len(p))] + [(q, k) for k in range(1, len(q))]:
            original, keep = coefs[index], coefs[index]
            for k in (-64, -16, -8, -4, -2, -1, 1, 2, 4, 8, 16, 64):
                coefs[index] = ulp_step(original, k)
                err = max_error(p, q, CLAMP, xs, ref)
                if err < best:
                    best, keep, improved = err, coefs[index], True
            coefs[index] = keep
        print(f"sweep {sweep}: max abs error {best:.4g}")
        if not improved:
            break
    for name, coefs in (("P", p), ("Q", q)):
        for k, v in enumerate(coefs):
            print(f"inline constexpr float kTanh{name}{2 * k + (1 if name == 'P' else 0)} = {np.format_float_scientific(v, unique=True)}f;")
    print(f"inline constexpr float kTanhClamp = {CLAMP}f;")


if __name__ == "__main__":
    main()

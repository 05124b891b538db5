#!/usr/bin/env python3
"""JAX peer for bench/mha_bench: Keras 3's MultiHeadAttention self-attention under jax.jit (XLA CPU),
forward + backward, the computation minidl's MultiHeadAttention does with key_dim = dim / heads:

    q = einsum("btd,dhk->bthk", x, Wq) + bq      # and k, v the same: EinsumDense with biases
    scores = einsum("bshk,bthk->bhts", k, q / sqrt(key_dim))
    o = einsum("bhts,bshk->bthk", softmax(scores, -1), v)
    out = einsum("bthk,hkd->btd", o, Wo) + bo

Timed: jax.jit(jax.value_and_grad(sum(out), w.r.t. x and all eight weights)), each call ending
with block_until_ready, --reps calls after one warm-up (which compiles); one JSON line per shape,
{"shape", "threads", "jax", "peer", "fwdbwd": peer_timing.time_calls(...)}, as
peer_pytorch_mha.py prints. --threads N keeps the process on N CPUs before JAX starts
(peer_timing.limit_cpus: XLA sizes its pools from them).

--check FILE: FILE is what `mha_bench --check` wrote (an input, minidl's weights in Keras's layouts,
minidl's output and gradients); computes the same with the jitted function above and prints
{"check": "mha", "max_abs_out", "max_rel_grad", ...}: the peer computes what minidl computes.
A gradient's difference is taken relative to the larger of 1 and its largest entry: the key bias's
gradient is zero in exact arithmetic (softmax ignores a shift common to a row), so both sides hold
rounding noise of ~1e-7 there.
Runs under build/peers/jax/bin/python (tools/peers/setup.sh).
"""
import json

import peer_timing  # bench/peer_timing.py, next to this script

# minidl's (and Keras's) weight order: query, key, value, attention_output; kernel then bias.
WEIGHT_ORDER = ["wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo"]


def build(jax, jnp):
    def mha(x, wq, bq, wk, bk, wv, bv, wo, bo):
        key_dim = wq.shape[-1]
        q = jnp.einsum("btd,dhk->bthk", x, wq) + bq
        k = jnp.einsum("btd,dhk->bthk", x, wk) + bk
        v = jnp.einsum("btd,dhk->bthk", x, wv) + bv
        scores = jnp.einsum("bshk,bthk->bhts", k, q * (1.0 / key_dim ** 0.5))
        o = jnp.einsum("bhts,bshk->bthk", jax.nn.softmax(scores, axis=-1), v)
        return jnp.einsum("bthk,hkd->btd", o, wo) + bo

    step = jax.jit(jax.value_and_grad(lambda *a: mha(*a).sum(), argnums=tuple(range(9))))
    return mha, step


def check(path, jax, jnp, np):
    with open(path) as f:
        case = json.load(f)
    x = jnp.asarray(np.array(case["x"], np.float32).reshape(case["x_shape"]))
    weights = [jnp.asarray(np.array(w["values"], np.float32).reshape(w["shape"])) for w in case["weights"]]
    mha, step = build(jax, jnp)
    out = np.asarray(jax.jit(mha)(x, *weights))
    _, grads = step(x, *weights)
    expected_out = np.array(case["out"], np.float32).reshape(out.shape)
    worst_grad = 0.0
    per = {}
    for name, got, want in zip(["x"] + WEIGHT_ORDER, grads, case["grads"]):
        got = np.asarray(got).ravel()
        want = np.array(want, np.float32)
        rel = float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))
        per[name] = rel
        worst_grad = max(worst_grad, rel)
    print(json.dumps({"check": "mha", "jax": jax.__version__, "max_abs_out": float(np.max(np.abs(out - expected_out))),
                      "max_rel_grad": worst_grad, "rel_grad": per, "weights": [w["path"] for w in case["weights"]]}),
          flush=True)


def main():
    parser = peer_timing.peer_arguments("mha", check=True)
    args = parser.parse_args()
    cpus = peer_timing.limit_cpus(args.threads)

    import jax
    import jax.numpy as jnp
    import numpy as np

    if args.check:
        check(args.check, jax, jnp, np)
        return
    _, step = build(jax, jnp)
    for text in args.shapes.split(";"):
        b, t, dim, heads = (int(v) for v in text.split(","))
        key_dim = dim // heads
        rng = np.random.default_rng(0)
        limit = (6.0 / (dim + heads * key_dim)) ** 0.5  # glorot_uniform on the einsum kernels' fans

        def uniform(*shape):
            return jnp.asarray(rng.uniform(-limit, limit, shape).astype(np.float32))

        x = jnp.asarray(rng.standard_normal((b, t, dim)).astype(np.float32))
        weights = []
        for _ in range(3):
            weights += [uniform(dim, heads, key_dim), jnp.zeros((heads, key_dim), jnp.float32)]
        weights += [uniform(heads, key_dim, dim), jnp.zeros((dim,), jnp.float32)]

        def fwdbwd():
            return jax.block_until_ready(step(x, *weights))

        row = {"shape": [b, t, dim, heads], "threads": cpus, "jax": jax.__version__, "peer": "jax.jit",
               "fwdbwd": peer_timing.time_calls(fwdbwd, args.reps)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

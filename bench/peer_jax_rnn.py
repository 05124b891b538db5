#!/usr/bin/env python3
"""JAX peer for bench/rnn_bench: one training step's forward and backward (no optimizer update)
of Keras 3's LSTM / GRU (reset_after=True) over the whole sequence, a Dense head on the last
output and a mean squared error, under jax.jit (XLA CPU), at the shapes rnn_bench times.

Keras's formulas and weight layouts (kernel (features, g*units), recurrent_kernel (units, g*units),
LSTM bias (4*units), GRU bias (2, 3*units)); gates i, f, c, o for the LSTM, z, r, h for the GRU:

    LSTM: z = x_t W + h U + b;  c = sigmoid(z_f) c + sigmoid(z_i) tanh(z_c);  h = sigmoid(z_o) tanh(c)
    GRU:  xz, xr, xh = x_t W + b_in;  rz, rr, rh = h U + b_rec
          z = sigmoid(xz + rz);  r = sigmoid(xr + rr);  hh = tanh(xh + r rh);  h = z h + (1 - z) hh

The input products of every step are one product before the recurrence (x W for all steps at
once); the recurrence is a lax.scan. Timed: jax.jit(jax.value_and_grad(loss, w.r.t. the five
weights)), each step ending with block_until_ready; the warm-up compiles. One JSON line per model,
as peer_pytorch_rnn.py prints (peer_timing.time_steps). --threads N keeps the process on N CPUs
before JAX starts (peer_timing.limit_cpus: XLA sizes its pools from them).

--check FILE: FILE is what `rnn_bench --check` wrote (inputs, minidl's weights, loss and
gradients for both cells); prints {"check": "lstm" | "gru", "abs_loss", "max_rel_grad", ...}.
Runs under build/peers/jax/bin/python (tools/peers/setup.sh).
"""
import json

import peer_timing  # bench/peer_timing.py, next to this script


def build(cell, jax, jnp):
    def sequence_last(x, kernel, recurrent, bias):
        batch, units = x.shape[0], recurrent.shape[0]
        h0 = jnp.zeros((batch, units), x.dtype)
        if cell == "lstm":
            inputs = jnp.einsum("btf,fg->tbg", x, kernel) + bias

            def lstm_step(carry, z_x):
                h, c = carry
                z = z_x + h @ recurrent
                i, f, g, o = jnp.split(z, 4, axis=-1)
                c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
                h = jax.nn.sigmoid(o) * jnp.tanh(c)
                return (h, c), None

            (h, _), _ = jax.lax.scan(lstm_step, (h0, h0), inputs)
            return h
        inputs = jnp.einsum("btf,fg->tbg", x, kernel) + bias[0]

        def gru_step(h, x_t):
            xz, xr, xh = jnp.split(x_t, 3, axis=-1)
            rz, rr, rh = jnp.split(h @ recurrent + bias[1], 3, axis=-1)
            z = jax.nn.sigmoid(xz + rz)
            r = jax.nn.sigmoid(xr + rr)
            hh = jnp.tanh(xh + r * rh)
            return z * h + (1 - z) * hh, None

        h, _ = jax.lax.scan(gru_step, h0, inputs)
        return h

    def loss(kernel, recurrent, bias, head, head_bias, x, y):
        logits = sequence_last(x, kernel, recurrent, bias) @ head + head_bias
        return jnp.mean((logits - y) ** 2)

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3, 4)))


def check(path, jax, jnp, np):
    with open(path) as f:
        cases = json.load(f)
    for case in cases:
        def arr(item):
            return jnp.asarray(np.array(item["values"], np.float32).reshape(item["shape"]))

        step = build(case["cell"], jax, jnp)
        loss, grads = step(*[arr(w) for w in case["weights"]], arr(case["x"]), arr(case["y"]))
        per = {}
        for w, got, want in zip(case["weights"], grads, case["grads"]):
            got = np.asarray(got).ravel()
            want = np.array(want, np.float32)
            per[w["name"]] = float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))
        print(json.dumps({"check": case["cell"], "jax": jax.__version__, "abs_loss": abs(float(loss) - case["loss"]),
                          "loss": float(loss), "max_rel_grad": max(per.values()), "rel_grad": per}), flush=True)


def main():
    parser = peer_timing.peer_arguments("rnn", check=True)
    args = parser.parse_args()
    cpus = peer_timing.limit_cpus(args.threads)

    import jax
    import jax.numpy as jnp
    import numpy as np

    if args.check:
        check(args.check, jax, jnp, np)
        return
    for cell, gates in (("lstm", 4), ("gru", 3)):
        rng = np.random.default_rng(0)
        limit = 1.0 / np.sqrt(args.units)  # rnn_bench's (PyTorch's) initialisation range

        def uniform(*shape):
            return jnp.asarray(rng.uniform(-limit, limit, shape).astype(np.float32))

        weights = [uniform(args.features, gates * args.units), uniform(args.units, gates * args.units),
                   uniform(gates * args.units) if cell == "lstm" else uniform(2, gates * args.units),
                   uniform(args.units, args.classes), uniform(args.classes)]
        x = jnp.asarray(rng.standard_normal((args.batch, args.time, args.features)).astype(np.float32))
        y = jnp.asarray(rng.standard_normal((args.batch, args.classes)).astype(np.float32))
        step_fn = build(cell, jax, jnp)

        def step():
            jax.block_until_ready(step_fn(*weights, x, y))

        row = {"model": cell, "threads": cpus, "jax": jax.__version__, "peer": "jax.jit"}
        row.update(peer_timing.time_steps(step, args.steps, warmup=10))
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""JAX peer for bench/attention_bench: Keras's additive-attention formula under jax.jit (XLA CPU).

    scores = (scale * tanh(q[:, :, None, :] + k[:, None, :, :])).sum(-1)   # (B, Tq, Tv)
    w      = softmax(scores, -1)
    out    = w @ v                                                         # (B, Tq, Dv)

forward: jax.jit of the formula; forward+backward: jax.jit of jax.value_and_grad of sum(out)
w.r.t. q, k, v and scale, so the forward runs inside the same compiled program, as it does on a
tape. Each call ends with block_until_ready. Same modes and JSON rows as peer_pytorch_attention.py.
Threads: XLA's CPU client sizes its pools from the CPUs the process may run on, so --threads N
keeps the process on N CPUs (peer_timing.limit_cpus) before JAX starts.
Runs under build/peers/jax/bin/python (tools/peers/setup.sh).
"""
import argparse
import json

import peer_timing  # bench/peer_timing.py, next to this script


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--mode", choices=["time", "memory"], default="time")
    parser.add_argument("--shapes", default="32,64,64,64;16,128,128,128;4,512,512,64;1,1024,1024,256",
                        help="semicolon-separated B,Tq,Tv,D (Dv = D)")
    args = parser.parse_args()
    cpus = peer_timing.limit_cpus(args.threads)

    import jax
    import jax.numpy as jnp
    import numpy as np

    def attention(q, k, v, scale):
        scores = (scale * jnp.tanh(q[:, :, None, :] + k[:, None, :, :])).sum(-1)
        return jax.nn.softmax(scores, axis=-1) @ v

    forward = jax.jit(attention)
    forward_backward = jax.jit(jax.value_and_grad(lambda q, k, v, s: attention(q, k, v, s).sum(), argnums=(0, 1, 2, 3)))

    for text in args.shapes.split(";"):
        b, tq, tv, d = (int(x) for x in text.split(","))
        rng = np.random.default_rng(0)
        inputs = [jnp.asarray(rng.uniform(-1, 1, shape).astype(np.float32))
                  for shape in [(b, tq, d), (b, tv, d), (b, tv, d)]]
        inputs.append(jnp.asarray(rng.uniform(-0.5, 0.5, (d,)).astype(np.float32)))

        def fwd():
            return forward(*inputs).block_until_ready()

        def fwdbwd():
            return jax.block_until_ready(forward_backward(*inputs))

        row = {"shape": [b, tq, tv, d], "threads": cpus, "jax": jax.__version__, "peer": "jax.jit"}
        if args.mode == "time":
            row["fwd"] = peer_timing.time_calls(fwd, args.reps)
            row["fwdbwd"] = peer_timing.time_calls(fwdbwd, args.reps)
        else:
            row["fwd"] = peer_timing.memory_of(fwd)
            row["fwdbwd"] = peer_timing.memory_of(fwdbwd)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

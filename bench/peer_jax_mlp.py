#!/usr/bin/env python3
"""JAX peer for bench/autograd_bench: one SGD training step of the same MLPs under jax.jit.

The whole step (forward, loss, jax.grad, the SGD update of every parameter) is one jitted
function of (params, x, y) returning the new params, the way a JAX user writes a training step;
the parameters are donated so that XLA may update them in place. Each step ends with
block_until_ready. Same JSON rows as peer_pytorch_mlp.py. --threads N keeps the process on N
CPUs before JAX starts (peer_timing.limit_cpus: XLA sizes its pools from them).
Runs under build/peers/jax/bin/python (tools/peers/setup.sh).
"""
import argparse
import json

import peer_timing  # bench/peer_timing.py, next to this script


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    cpus = peer_timing.limit_cpus(args.threads)

    import jax
    import jax.numpy as jnp
    import numpy as np

    for name, sizes, batch, classification in [("mlp_784_256_10_b64", [784, 256, 10], 64, True),
                                               ("mlp_32_32_1_b8", [32, 32, 1], 8, False)]:
        rng = np.random.default_rng(0)
        params = []
        for i in range(len(sizes) - 1):
            bound = 1.0 / np.sqrt(sizes[i])  # PyTorch's nn.Linear initialisation
            params.append((jnp.asarray(rng.uniform(-bound, bound, (sizes[i], sizes[i + 1])).astype(np.float32)),
                           jnp.asarray(rng.uniform(-bound, bound, (sizes[i + 1],)).astype(np.float32))))
        x = jnp.asarray(rng.standard_normal((batch, sizes[0])).astype(np.float32))
        if classification:
            y = jnp.asarray(rng.integers(0, sizes[-1], batch).astype(np.int32))
        else:
            y = jnp.asarray(rng.standard_normal((batch, sizes[-1])).astype(np.float32))

        def loss_of(params, x, y):
            h = x
            for i, (w, b) in enumerate(params):
                h = h @ w + b
                if i + 1 < len(params):
                    h = jax.nn.relu(h)
            if classification:
                return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(h), y[:, None], axis=1))
            return jnp.mean((h - y) ** 2)

        def sgd_step(params, x, y):
            grads = jax.grad(loss_of)(params, x, y)
            return jax.tree_util.tree_map(lambda p, g: p - 0.01 * g, params, grads)

        step_fn = jax.jit(sgd_step, donate_argnums=0)
        state = {"params": params}

        def step():
            state["params"] = jax.block_until_ready(step_fn(state["params"], x, y))

        row = {"model": name, "threads": cpus, "jax": jax.__version__, "peer": "jax.jit"}
        row.update(peer_timing.time_steps(step, args.steps, warmup=50))
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

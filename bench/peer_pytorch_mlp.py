#!/usr/bin/python3
"""PyTorch peer for bench/autograd_bench: one SGD training step of the same MLPs.

Eager by default; --compile wraps the forward and the loss in torch.compile (inductor, CPU; its
backward is compiled too, the optimizer step stays eager, as `model = torch.compile(model)` gives
a user). Prints one JSON line per model: {"model", "threads", "min_ms", "median_ms", "steps",
"loop", "disturbed", "load"}: each step timed alone; CPU time, page faults and other processes'
load over the whole timed loop (bench/peer_timing.py).
Runs under Debian's /usr/bin/python3 (python3-torch 1.13) or build/peers/torch2/bin/python.
"""
import argparse
import json

import torch
import torch.nn.functional as F

import peer_timing  # bench/peer_timing.py, next to this script


def mlp_step(sizes, batch, classification, steps, warmup, compile_):
    torch.manual_seed(0)
    layers = [torch.nn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)]
    params = [p for layer in layers for p in layer.parameters()]
    opt = torch.optim.SGD(params, lr=0.01)
    x = torch.randn(batch, sizes[0])
    if classification:
        y = torch.randint(0, sizes[-1], (batch,))
    else:
        y = torch.randn(batch, sizes[-1])

    def loss_of(x, y):
        h = x
        for i, layer in enumerate(layers):
            h = layer(h)
            if i + 1 < len(layers):
                h = torch.relu(h)
        return F.cross_entropy(h, y) if classification else F.mse_loss(h, y)

    loss_fn = torch.compile(loss_of) if compile_ else loss_of

    def step():
        loss = loss_fn(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return peer_timing.time_steps(step, steps, warmup)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--compile", action="store_true", help="torch.compile the forward and loss (PyTorch 2.x)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # Debian's build defaults to 1 thread on this VM
    for name, sizes, batch, classification in [("mlp_784_256_10_b64", [784, 256, 10], 64, True),
                                               ("mlp_32_32_1_b8", [32, 32, 1], 8, False)]:
        row = {"model": name, "threads": torch.get_num_threads(), "torch": torch.__version__,
               "peer": "torch.compile" if args.compile else "eager"}
        row.update(mlp_step(sizes, batch, classification, args.steps, warmup=50, compile_=args.compile))
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

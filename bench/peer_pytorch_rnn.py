#!/usr/bin/env python3
"""PyTorch 2.x peer for bench/rnn_bench: one training step's forward and backward (no optimizer
update) of nn.LSTM / nn.GRU (batch_first) followed by a Linear head on the last output, eager,
at the shapes rnn_bench times.

Prints one JSON line per model: {"model", "threads", "torch", "min_ms", "median_ms", "steps",
"loop", "disturbed", "load"} (bench/peer_timing.py's time_steps).
Run with the torch2 peer environment (tools/peers/setup.sh): build/peers/torch2/bin/python.
"""
import argparse
import json

import torch
import torch.nn.functional as F

import peer_timing  # bench/peer_timing.py, next to this script


def rnn_step(cell, batch, time, features, units, classes, steps, warmup):
    torch.manual_seed(0)
    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](features, units, batch_first=True)
    head = torch.nn.Linear(units, classes)
    x = torch.randn(batch, time, features)
    y = torch.randn(batch, classes)
    params = list(rnn.parameters()) + list(head.parameters())

    def step():
        for p in params:
            p.grad = None
        sequence, _ = rnn(x)
        loss = F.mse_loss(head(sequence[:, -1]), y)
        loss.backward()

    return peer_timing.time_steps(step, steps, warmup)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--time", type=int, default=28)
    parser.add_argument("--features", type=int, default=28)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for cell in ("lstm", "gru"):
        row = {"model": cell, "threads": torch.get_num_threads(), "torch": torch.__version__}
        row.update(rnn_step(cell, args.batch, args.time, args.features, args.units, args.classes, args.steps,
                            warmup=10))
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

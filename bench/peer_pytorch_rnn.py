#!/usr/bin/env python3
"""PyTorch peer for bench/rnn_bench: one training step's forward and backward (no optimizer
update) of nn.LSTM / nn.GRU (batch_first) followed by a Linear head on the last output and a
mean squared error, at the shapes rnn_bench times.

Eager by default; --compile runs the whole step function (zeroing the gradients, forward, loss,
loss.backward()) through torch.compile (inductor, CPU; PyTorch 2.x only), compiled in the warm-up.
What that buys is in the row's "compiled" (dynamo's graphs and breaks): dynamo leaves nn.LSTM /
nn.GRU out of its graphs (torch._dynamo.config.allow_rnn is off by default; turned on, PyTorch
2.15's inductor fails on aten.mkldnn_rnn_layer), so the recurrent layer runs eagerly between
compiled pieces (the head, the loss and their backward).
Prints one JSON line per model: {"model", "threads", "torch", "peer", "min_ms", "median_ms",
"steps", "loop", "disturbed", "load"} (bench/peer_timing.py's time_steps).
Runs under Debian's /usr/bin/python3 (PyTorch 1.13) or build/peers/torch2/bin/python (PyTorch
2.x, tools/peers/setup.sh).
"""
import json

import torch
import torch.nn.functional as F

import peer_timing  # bench/peer_timing.py, next to this script


def rnn_step(cell, batch, time, features, units, classes, steps, warmup, compile_):
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

    if not compile_:
        return peer_timing.time_steps(step, steps, warmup)
    compiled = peer_timing.dynamo_summary(torch, step)
    return dict(peer_timing.time_steps(torch.compile(step), steps, warmup), compiled=compiled)


def main():
    parser = peer_timing.peer_arguments("rnn")
    parser.add_argument("--compile", action="store_true", help="torch.compile the whole step (PyTorch 2.x)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # Debian's build defaults to 1 thread on this VM
    for cell in ("lstm", "gru"):
        row = {"model": cell, "threads": torch.get_num_threads(), "torch": torch.__version__,
               "peer": "torch.compile" if args.compile else "eager"}
        row.update(rnn_step(cell, args.batch, args.time, args.features, args.units, args.classes, args.steps,
                            warmup=10, compile_=args.compile))
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

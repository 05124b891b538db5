#!/usr/bin/env python3
"""PyTorch peer for bench/mha_bench: nn.MultiheadAttention (batch_first) self-attention,
forward + backward, the same computation as minidl's MultiHeadAttention with key_dim = dim / heads
(query/key/value projections with biases, scaled dot product, softmax, output projection).

    out, _ = mha(x, x, x, need_weights=False)
    torch.autograd.grad(out.sum(), [x] + parameters)

Eager by default; --compile runs that whole function (forward and torch.autograd.grad) through
torch.compile (inductor, CPU; PyTorch 2.x only) with torch._dynamo.config.trace_autograd_ops on,
so that dynamo captures the backward in the same graph instead of breaking at autograd.grad;
the warm-up call compiles, and the row's "compiled" says what dynamo captured (graphs, breaks).
One JSON line per shape: the forward+backward call timed --reps times after one warm-up (min and
median ms, with the fastest call's CPU time, page faults, other processes' load and why it was
disturbed: bench/peer_timing.py). Runs under Debian's /usr/bin/python3 (PyTorch 1.13) or
build/peers/torch2/bin/python (PyTorch 2.x, tools/peers/setup.sh).
"""
import json

import torch

import peer_timing  # bench/peer_timing.py, next to this script


def main():
    parser = peer_timing.peer_arguments("mha")
    parser.add_argument("--compile", action="store_true", help="torch.compile fwd+bwd (PyTorch 2.x)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # Debian's build defaults to 1 thread on this VM
    if args.compile:
        torch._dynamo.config.trace_autograd_ops = True
    torch.manual_seed(0)
    for text in args.shapes.split(";"):
        b, t, dim, heads = (int(v) for v in text.split(","))
        mha = torch.nn.MultiheadAttention(dim, heads, batch_first=True)
        x = torch.randn(b, t, dim, requires_grad=True)
        params = list(mha.parameters())

        def fwdbwd():
            out, _ = mha(x, x, x, need_weights=False)
            return torch.autograd.grad(out.sum(), [x] + params)

        row = {"shape": [b, t, dim, heads], "threads": torch.get_num_threads(), "torch": torch.__version__,
               "peer": "torch.compile" if args.compile else "eager"}
        if args.compile:
            row["compiled"] = peer_timing.dynamo_summary(torch, fwdbwd)
            fwdbwd = torch.compile(fwdbwd)
        row["fwdbwd"] = peer_timing.time_calls(fwdbwd, args.reps)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch 2.x peer for bench/mha_bench: nn.MultiheadAttention (batch_first) self-attention,
forward + backward, the same computation as minidl's MultiHeadAttention with key_dim = dim / heads
(query/key/value projections with biases, scaled dot product, softmax, output projection).

    out, _ = mha(x, x, x, need_weights=False)
    torch.autograd.grad(out.sum(), [x] + parameters)

One JSON line per shape: the forward+backward call timed --reps times after one warm-up (min and
median ms, with the fastest call's CPU time, page faults, other processes' load and why it was
disturbed: bench/peer_timing.py). Run with /work/main/build/peers/torch2/bin/python.
"""
import argparse
import json

import torch

import peer_timing  # bench/peer_timing.py, next to this script


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--shapes", default="32,64,128,4;8,256,256,8", help="semicolon-separated B,T,dim,heads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
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
               "fwdbwd": peer_timing.time_calls(fwdbwd, args.reps)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

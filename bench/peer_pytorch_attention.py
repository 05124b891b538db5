#!/usr/bin/python3
"""PyTorch peer for bench/attention_bench: Keras's additive-attention formula with autograd.

    scores = (scale * tanh(q.unsqueeze(-2) + k.unsqueeze(-3))).sum(-1)   # (B, Tq, Tv)
    w      = softmax(scores, -1)
    out    = w @ v                                                       # (B, Tq, Dv)

Eager by default; --compile runs the same function through torch.compile (inductor, CPU; PyTorch
2.x only), compiled in the warm-up call. Two modes, each printing one JSON line per shape:
  --mode time    forward (under no_grad) and forward+backward (torch.autograd.grad of sum(out)
                 w.r.t. q, k, v, scale) timed --reps times after one warm-up; min and median ms,
                 with the fastest call's CPU time, page faults, other processes' load and why it
                 was disturbed (bench/peer_timing.py).
  --mode memory  peak extra resident memory of one forward and of one forward+backward call
                 (peer_timing.memory_of). attention_bench runs this in a fresh process per shape.
Runs under Debian's /usr/bin/python3 (python3-torch 1.13) or build/peers/torch2/bin/python
(PyTorch 2.x from PyPI, tools/peers/setup.sh).
"""
import argparse
import json

import torch

import peer_timing  # bench/peer_timing.py, next to this script


def make_inputs(b, tq, tv, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = (torch.rand(b, tq, d, generator=g) * 2 - 1).requires_grad_()
    k = (torch.rand(b, tv, d, generator=g) * 2 - 1).requires_grad_()
    v = (torch.rand(b, tv, d, generator=g) * 2 - 1).requires_grad_()
    scale = (torch.rand(d, generator=g) - 0.5).requires_grad_()
    return q, k, v, scale


def attention(q, k, v, scale):
    scores = (scale * torch.tanh(q.unsqueeze(-2) + k.unsqueeze(-3))).sum(-1)
    w = torch.softmax(scores, -1)
    return w @ v


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--mode", choices=["time", "memory"], default="time")
    parser.add_argument("--compile", action="store_true", help="torch.compile the formula (PyTorch 2.x)")
    parser.add_argument("--shapes", default="32,64,64,64;16,128,128,128;4,512,512,64;1,1024,1024,256",
                        help="semicolon-separated B,Tq,Tv,D (Dv = D)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # Debian's build defaults to 1 thread on this VM
    fn = torch.compile(attention) if args.compile else attention

    def forward(inputs):
        with torch.no_grad():
            return fn(*inputs)

    def forward_backward(inputs):
        return torch.autograd.grad(fn(*inputs).sum(), list(inputs))

    for text in args.shapes.split(";"):
        b, tq, tv, d = (int(x) for x in text.split(","))
        inputs = make_inputs(b, tq, tv, d)
        row = {"shape": [b, tq, tv, d], "threads": torch.get_num_threads(), "torch": torch.__version__,
               "peer": "torch.compile" if args.compile else "eager"}
        if args.mode == "time":
            row["fwd"] = peer_timing.time_calls(lambda: forward(inputs), args.reps)
            row["fwdbwd"] = peer_timing.time_calls(lambda: forward_backward(inputs), args.reps)
        else:
            row["fwd"] = peer_timing.memory_of(lambda: forward(inputs))
            row["fwdbwd"] = peer_timing.memory_of(lambda: forward_backward(inputs))
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

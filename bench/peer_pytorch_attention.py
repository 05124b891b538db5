#!/usr/bin/python3
"""PyTorch 1.13 peer for bench/attention_bench: Keras's additive-attention formula with autograd.

    scores = (scale * tanh(q.unsqueeze(-2) + k.unsqueeze(-3))).sum(-1)   # (B, Tq, Tv)
    w      = softmax(scores, -1)
    out    = w @ v                                                       # (B, Tq, Dv)

Two modes, each printing one JSON line per shape:
  --mode time    forward (under no_grad) and forward+backward (torch.autograd.grad of sum(out)
                 w.r.t. q, k, v, scale) timed --reps times after one warm-up; min and median ms,
                 with the fastest call's CPU time, page faults, other processes' load and why it
                 was disturbed (bench/peer_timing.py).
  --mode memory  peak extra resident memory of one forward and of one forward+backward call:
                 VmHWM (reset through /proc/self/clear_refs) minus VmRSS just before the call,
                 after one warm-up call. attention_bench runs this in a fresh process per shape
                 with MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=0, so that buffers
                 freed by the warm-up go back to the kernel and cannot hide the next call's peak.
Run with Debian's interpreter (/usr/bin/python3), which has python3-torch.
"""
import argparse
import json
import resource

import torch

import peer_timing  # bench/peer_timing.py, next to this script


def status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def reset_peak():
    """Resets VmHWM to the current RSS; returns False when the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


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


def forward(inputs):
    with torch.no_grad():
        return attention(*inputs)


def forward_backward(inputs):
    out = attention(*inputs)
    return torch.autograd.grad(out.sum(), list(inputs))


def memory_of(fn, inputs):
    fn(inputs)  # warm-up: lazy initialisation, thread pool
    if not reset_peak():
        return {"method": "ru_maxrss", "extra_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                                     - status_kib("VmRSS")) / 1024.0}
    base = status_kib("VmRSS")
    r = fn(inputs)
    peak = status_kib("VmHWM")
    del r
    return {"method": "VmHWM-VmRSS", "extra_mib": (peak - base) / 1024.0, "base_mib": base / 1024.0}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--mode", choices=["time", "memory"], default="time")
    parser.add_argument("--shapes", default="32,64,64,64;16,128,128,128;4,512,512,64;1,1024,1024,256",
                        help="semicolon-separated B,Tq,Tv,D (Dv = D)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # Debian's build defaults to 1 thread on this VM
    for text in args.shapes.split(";"):
        b, tq, tv, d = (int(x) for x in text.split(","))
        inputs = make_inputs(b, tq, tv, d)
        row = {"shape": [b, tq, tv, d], "threads": torch.get_num_threads(), "torch": torch.__version__}
        if args.mode == "time":
            row["fwd"] = peer_timing.time_calls(lambda: forward(inputs), args.reps)
            row["fwdbwd"] = peer_timing.time_calls(lambda: forward_backward(inputs), args.reps)
        else:
            row["fwd"] = memory_of(forward, inputs)
            row["fwdbwd"] = memory_of(forward_backward, inputs)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

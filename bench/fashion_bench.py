#!/usr/bin/python3
"""Fashion-MNIST seconds per epoch, minidl's examples against the PyTorch peer
(bench/peer_pytorch_fashion.py), each in its own fresh process, the peer twice. The peer runs
under --python: Debian's /usr/bin/python3 (PyTorch 1.13, the default) or a pinned PyPI
environment (tools/peers/setup.sh: build/peers/torch2/bin/python, PyTorch 2.15 eager).

    /usr/bin/python3 bench/fashion_bench.py --build build --model attention --threads 2
    /usr/bin/python3 bench/fashion_bench.py --build build --model mlp --threads 2
    /usr/bin/python3 bench/fashion_bench.py --build build --model cnn --python build/peers/torch2/bin/python

For every run it records the wall time, the process's CPU and system time, its page faults and
the CPUs other processes used meanwhile (/proc/stat minus the child's own CPU time). A run is
disturbed when others used more than 0.3 CPUs; the peer's figure is void when either of its two
runs was disturbed or they differ by more than 20% (bench/peer_runner.h's rule).
Only the standard library: runs under Debian's /usr/bin/python3.
"""
import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_timing  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = {"attention": "fashion_mnist_attention", "mlp": "mlp_fashion_mnist", "cnn": "cnn_fashion_mnist"}
# Epochs per run: enough for a stable per-epoch figure without holding the machine for long.
EPOCHS = {"attention": (2, 1), "mlp": (5, 3), "cnn": (2, 1)}  # (minidl, PyTorch)


def run(command, env):
    """Runs command in a fresh process; returns its output and what the run cost."""
    busy0 = peer_timing.machine_busy_seconds()
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    out = proc.stdout.read()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    busy1 = peer_timing.machine_busy_seconds()
    own = ru.ru_utime + ru.ru_stime
    cost = {"wall_s": wall, "cpu_s": own, "sys_s": ru.ru_stime, "faults": ru.ru_minflt,
            "others": max(0.0, ((busy1 - busy0) - own) / wall)}
    if status != 0:
        sys.exit(f"{' '.join(command)} failed:\n{out}")
    return out, cost


def seconds_per_epoch(output):
    m = re.search(r"\(([\d.]+) s per epoch\)", output) or re.search(r"seconds_per_epoch: ([\d.]+)", output)
    if not m:
        sys.exit(f"no seconds per epoch in:\n{output}")
    return float(m.group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build", help="minidl build folder (default: %(default)s)")
    parser.add_argument("--model", choices=sorted(EXAMPLES), required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--python", default="/usr/bin/python3", help="the peer's interpreter (default: %(default)s)")
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    mine_epochs, peer_epochs = EPOCHS[args.model]
    print(f"fashion_bench {args.model}, {args.threads} threads; load before: {peer_timing.load_average()}")

    peer_timing.warm_memory()
    mine_out, mine_cost = run([os.path.join(args.build, "examples", EXAMPLES[args.model]), "--epochs",
                               str(mine_epochs)], env)
    mine = seconds_per_epoch(mine_out)
    peer = [os.path.join(HERE, "peer_pytorch_fashion.py"), "--model", args.model, "--epochs", str(peer_epochs),
            "--threads", str(args.threads)]
    runs = []
    for _ in range(2):
        peer_timing.warm_memory()
        runs.append(run([args.python] + peer, env))
    theirs = [seconds_per_epoch(out) for out, _ in runs]

    why = []
    if mine_cost["others"] > peer_timing.OTHERS_LIMIT:
        why.append(f"minidl run disturbed (others {mine_cost['others']:.2f} CPUs)")
    for i, (_, cost) in enumerate(runs):
        if cost["others"] > peer_timing.OTHERS_LIMIT:
            why.append(f"PyTorch run {i + 1} disturbed (others {cost['others']:.2f} CPUs)")
    spread = abs(theirs[0] - theirs[1]) / min(theirs)
    if spread > 0.20:
        why.append(f"PyTorch re-run differs by {spread * 100:.0f}%")
    ratio = min(theirs) / mine
    print(f"minidl: {mine:.2f} s/epoch ({mine_epochs} epochs; run: wall {mine_cost['wall_s']:.1f} s, "
          f"cpu {mine_cost['cpu_s']:.1f} s, sys {mine_cost['sys_s']:.1f} s, others {mine_cost['others']:.2f} CPUs)")
    for i, ((_, cost), t) in enumerate(zip(runs, theirs)):
        print(f"PyTorch run {i + 1}: {t:.2f} s/epoch ({peer_epochs} epochs; run: wall {cost['wall_s']:.1f} s, "
              f"cpu {cost['cpu_s']:.1f} s, sys {cost['sys_s']:.1f} s, faults {cost['faults']}, "
              f"others {cost['others']:.2f} CPUs)")
    print(f"speed-up (PyTorch's faster run / minidl): {ratio:.2f}x" + (f"  VOID: {'; '.join(why)}" if why else ""))
    print(f"load after: {peer_timing.load_average()}")


if __name__ == "__main__":
    main()

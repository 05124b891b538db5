#!/usr/bin/python3
"""Fashion-MNIST seconds per epoch, minidl's examples against the peers (bench/peer_pytorch_fashion.py,
bench/peer_jax_fashion.py), each in its own fresh process, every peer twice. The peers (--peers,
default all): torch1 = PyTorch 1.13 under Debian's /usr/bin/python3; torch2 = PyTorch 2.x eager
and compile = torch.compile, in the pinned environment build/peers/torch2; jax = jax.jit in
build/peers/jax (tools/peers/setup.sh; $MINIDL_PEER_ENVS/<env> instead when set). A peer that is
not installed is reported.

    /usr/bin/python3 bench/fashion_bench.py --build build --model attention --threads 2
    /usr/bin/python3 bench/fashion_bench.py --build build --model mlp --threads 2 --peers torch2,compile
    /usr/bin/python3 bench/fashion_bench.py --build build --model cnn --peers torch2

What an epoch is: minidl's example times model.fit() (training batches with the loss and
accuracy metrics, then the validation split's evaluation) and divides by the epochs; the PyTorch
and JAX peers time the same work per epoch (their training batches with loss and accuracy, then
the validation loss and accuracy at the training batch size).

For every run it records the wall time, the process's CPU and system time, its page faults and
the CPUs other processes used meanwhile (/proc/stat minus the child's own CPU time). A run is
disturbed when others used more than 0.3 CPUs; a peer's figure is void when either of its two
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
PEER_ENVS = os.environ.get("MINIDL_PEER_ENVS") or os.path.join(HERE, "..", "build", "peers")
# key: (name, interpreter, script, extra arguments), as bench/peer_runner.h's bench::peers()
PEERS = {"torch1": ("PyTorch 1.13", "/usr/bin/python3", "peer_pytorch_fashion.py", []),
         "torch2": ("PyTorch 2 eager", os.path.join(PEER_ENVS, "torch2", "bin", "python"), "peer_pytorch_fashion.py", []),
         "compile": ("torch.compile", os.path.join(PEER_ENVS, "torch2", "bin", "python"), "peer_pytorch_fashion.py",
                     ["--compile"]),
         "jax": ("jax.jit", os.path.join(PEER_ENVS, "jax", "bin", "python"), "peer_jax_fashion.py", [])}


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
    parser.add_argument("--peers", default="all", help="all, or a comma-separated list of " + ",".join(PEERS))
    args = parser.parse_args()
    keys = list(PEERS) if args.peers == "all" else args.peers.split(",")
    for key in keys:
        if key not in PEERS:
            sys.exit(f"unknown peer '{key}' (all, or a list of {','.join(PEERS)})")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    mine_epochs, peer_epochs = EPOCHS[args.model]
    print(f"fashion_bench {args.model}, {args.threads} threads; load before: {peer_timing.load_average()}")

    peer_timing.warm_memory()
    mine_out, mine_cost = run([os.path.join(args.build, "examples", EXAMPLES[args.model]), "--epochs",
                               str(mine_epochs)], env)
    mine = seconds_per_epoch(mine_out)
    mine_disturbed = mine_cost["others"] > peer_timing.OTHERS_LIMIT
    print(f"minidl: {mine:.2f} s/epoch ({mine_epochs} epochs; run: wall {mine_cost['wall_s']:.1f} s, "
          f"cpu {mine_cost['cpu_s']:.1f} s, sys {mine_cost['sys_s']:.1f} s, others {mine_cost['others']:.2f} CPUs)"
          + ("  DISTURBED" if mine_disturbed else ""))
    for key in keys:
        name, python, script, extra = PEERS[key]
        if not os.path.exists(python):
            print(f"{name}: not installed ({python}; tools/peers/setup.sh)")
            continue
        command = [python, os.path.join(HERE, script), "--model", args.model, "--epochs",
                   str(peer_epochs), "--threads", str(args.threads)] + extra
        runs = []
        for _ in range(2):
            peer_timing.warm_memory()
            runs.append(run(command, env))
        theirs = [seconds_per_epoch(out) for out, _ in runs]
        why = ["minidl run disturbed"] if mine_disturbed else []
        for i, (_, cost) in enumerate(runs):
            if cost["others"] > peer_timing.OTHERS_LIMIT:
                why.append(f"run {i + 1} disturbed (others {cost['others']:.2f} CPUs)")
        spread = abs(theirs[0] - theirs[1]) / min(theirs)
        if spread > 0.20:
            why.append(f"re-run differs by {spread * 100:.0f}%")
        for i, ((_, cost), t) in enumerate(zip(runs, theirs)):
            print(f"{name} run {i + 1}: {t:.2f} s/epoch ({peer_epochs} epochs; run: wall {cost['wall_s']:.1f} s, "
                  f"cpu {cost['cpu_s']:.1f} s, sys {cost['sys_s']:.1f} s, faults {cost['faults']}, "
                  f"others {cost['others']:.2f} CPUs)")
        print(f"speed-up ({name}'s faster run / minidl): {min(theirs) / mine:.2f}x"
              + (f"  VOID: {'; '.join(why)}" if why else ""))
    print(f"load after: {peer_timing.load_average()}")


if __name__ == "__main__":
    main()

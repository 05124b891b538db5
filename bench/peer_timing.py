"""Timing for the peer scripts (bench/peer_*.py): what each repetition cost this process and
what else the machine did meanwhile, so that a disturbed figure is refused instead of recorded.

Per timed block this records the wall time, this process's CPU time (user and system), its
minor page faults, and the CPUs that other processes (and the hypervisor's steal) used meanwhile
(from /proc/stat). A block is disturbed when
  * other processes used more than 0.3 of a CPU on average (something ran beside the peer), or
  * the VM's memory was cold: a fresh 4 KiB page (a 16 MiB private anonymous probe just before
    and just after the block) cost more than 5 us to fault in. On this KVM guest that cost
    depends on the host: 2-4 us when the host backs the guest's free pages, ~10 us when it has
    taken them back (virtio-balloon free-page reporting, DAMON pageout). PyTorch's CPU
    allocator returns large tensors to the kernel and faults them in again on every call
    (24,800 faults per (32,64,64,64) attention forward), so in the cold state its time measures
    the VM, not PyTorch (bench/RESULTS.md, "Why the recorded PyTorch figures were 4-6x slow").
    Each block also reports its faults and the probe, so the share of the time that faults
    take on this VM stays visible; warm_memory() warms the VM before a peer starts.
Only the Python standard library: the same module serves Debian's /usr/bin/python3 (PyTorch 1.13)
and the venv peers.
"""
import mmap
import os
import resource
import statistics
import time

OTHERS_LIMIT = 0.3      # CPUs used by other processes during a block
FRESH_PAGE_US_LIMIT = 5.0  # microseconds to fault in one fresh 4 KiB page (the probe)


def machine_busy_seconds():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    # user nice system idle iowait irq softirq steal: everything but idle and iowait
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


class Sample:
    """The machine and this process at one instant."""

    def __init__(self):
        ru = resource.getrusage(resource.RUSAGE_SELF)
        self.busy = machine_busy_seconds()
        self.user, self.sys, self.minflt = ru.ru_utime, ru.ru_stime, ru.ru_minflt
        self.wall = time.perf_counter()


def fresh_page_us(mib=16):
    """Microseconds to fault in one fresh anonymous page now: the VM's memory state."""
    n = mib << 20
    t0 = time.perf_counter()
    m = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    for offset in range(0, n, 4096):
        m[offset] = 1
    m.close()
    return (time.perf_counter() - t0) * 1e6 / (n // 4096)


def block_cost(before, after, calls=1, page_us=0.0):
    """What one call cost, averaged over a block of `calls` calls between two samples;
    page_us is the fresh-page probe around the block."""
    wall = after.wall - before.wall
    own = (after.user - before.user) + (after.sys - before.sys)
    faults = after.minflt - before.minflt
    sys_s = after.sys - before.sys
    return {
        "ms": wall * 1e3 / calls,
        "cpu_ms": own * 1e3 / calls,
        "sys_ms": sys_s * 1e3 / calls,
        "faults": faults / calls,
        "fresh_page_us": page_us,
        # /proc/stat ticks are 10 ms: over short blocks this is coarse, so it is a bound, not a figure
        "others": max(0.0, ((after.busy - before.busy) - own) / wall) if wall > 0 else 0.0,
    }


def disturbed_reasons(cost):
    reasons = []
    if cost["others"] > OTHERS_LIMIT:
        reasons.append(f"other processes used {cost['others']:.2f} CPUs")
    if cost["fresh_page_us"] > FRESH_PAGE_US_LIMIT and cost["faults"] > 0:
        reasons.append(f"cold VM memory: a fresh page costs {cost['fresh_page_us']:.1f} us "
                       f"({cost['faults']:.0f} faults per call)")
    return reasons


def warm_memory(gib=2):
    """Touches and frees `gib` GiB so that the pages a peer faults in next are backed by the host
    (fresh pages cost 8-11 us each on this VM, recycled ones 0.4 us). Returns us per page."""
    n = gib << 30
    t0 = time.perf_counter()
    m = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    for offset in range(0, n, 4096):
        m[offset] = 1
    m.close()
    return (time.perf_counter() - t0) * 1e6 / (n // 4096)


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


def memory_of(fn):
    """Peak extra resident memory of one fn() call, after one warm-up call: VmHWM (reset through
    /proc/self/clear_refs) minus VmRSS just before the call. fn must finish its work before it
    returns (JAX: block_until_ready). Run the process with MALLOC_MMAP_THRESHOLD_=65536
    MALLOC_TRIM_THRESHOLD_=0 so that buffers freed by the warm-up go back to the kernel and cannot
    hide the call's peak."""
    fn()  # warm-up: lazy initialisation, compilation, thread pool
    if not reset_peak():
        return {"method": "ru_maxrss", "extra_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                                     - status_kib("VmRSS")) / 1024.0}
    base = status_kib("VmRSS")
    r = fn()
    peak = status_kib("VmHWM")
    del r
    return {"method": "VmHWM-VmRSS", "extra_mib": (peak - base) / 1024.0, "base_mib": base / 1024.0}


def limit_cpus(threads):
    """Keeps this process on `threads` CPUs (the first ones it may use). For runtimes without a
    thread-count setting that covers all their pools (XLA's CPU client sizes its pools from the
    CPUs it may run on); call before importing them."""
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, cpus[:max(1, threads)])
    return len(os.sched_getaffinity(0))


def load_average():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def time_calls(fn, reps, warmup=1):
    """Times fn() `reps` times (after `warmup` calls), each call its own block. Returns min and
    median ms, the cost of the fastest call and why it was disturbed (empty: it was not)."""
    for _ in range(warmup):
        fn()
    costs = []
    for _ in range(reps):
        probe = fresh_page_us()
        before = Sample()
        result = fn()
        after = Sample()
        del result
        costs.append(block_cost(before, after, page_us=max(probe, fresh_page_us())))
    times = [c["ms"] for c in costs]
    best = min(range(reps), key=lambda i: times[i])
    return {"min_ms": times[best], "median_ms": statistics.median(times), "reps": reps, "at_min": costs[best],
            "disturbed": disturbed_reasons(costs[best]), "load": load_average()}


def time_steps(step, steps, warmup):
    """Times `steps` calls of a short step (microseconds): each step's wall time alone, and the
    CPU, faults and other processes' load over the whole timed loop (sampling /proc per step
    would cost more than the step)."""
    for _ in range(warmup):
        step()
    times = []
    probe = fresh_page_us()
    before = Sample()
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    after = Sample()
    loop = block_cost(before, after, calls=steps, page_us=max(probe, fresh_page_us()))
    # The figure is the fastest step; page faults come in bursts (glibc trimming, a new block), so
    # cold VM memory slows some steps and the median but not the fastest step: only other
    # processes' load disturbs it.
    reasons = [r for r in disturbed_reasons(loop) if not r.startswith("cold VM memory")]
    return {"min_ms": min(times), "median_ms": statistics.median(times), "steps": steps, "loop": loop,
            "disturbed": reasons, "load": load_average()}


def dynamo_summary(torch, fn, *args):
    """What torch.compile would capture of fn(*args): dynamo's graphs, their op counts, and the
    reasons for its graph breaks (each break leaves code between graphs to run eagerly)."""
    explained = torch._dynamo.explain(fn)(*args)
    torch._dynamo.reset()
    return {"graphs": explained.graph_count, "ops": [sum(1 for n in g.graph.nodes if n.op == "call_function")
                                                    for g in explained.graphs],
            "breaks": [str(b.reason).split("\n")[0][:160] for b in explained.break_reasons]}


def peer_arguments(bench, check=False):
    """The command line that every peer of `bench` ("mha" or "rnn") accepts, so that the C++
    bench can drive each framework's script alike; check=True adds --check FILE (the peers that
    recompute minidl's numbers: `<bench>_bench --check`). A script adds its own flags (--compile)
    to the parser this returns."""
    import argparse
    parser = argparse.ArgumentParser()
    if bench == "mha":
        parser.add_argument("--threads", type=int, default=2)
        parser.add_argument("--reps", type=int, default=10)
        parser.add_argument("--shapes", default="32,64,128,4;8,256,256,8", help="semicolon-separated B,T,dim,heads")
    else:
        parser.add_argument("--threads", type=int, default=1)
        parser.add_argument("--steps", type=int, default=100)
        for name, default in (("batch", 64), ("time", 28), ("features", 28), ("units", 128), ("classes", 10)):
            parser.add_argument("--" + name, type=int, default=default)
    if check:
        parser.add_argument("--check", metavar="FILE",
                            help=f"compare with minidl's numbers, written by {bench}_bench --check")
    return parser

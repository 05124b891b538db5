#!/usr/bin/python3
"""How much a fresh page costs on this machine right now: touches N GiB with numpy (which asks
for transparent huge pages on large arrays) and prints microseconds per 4 KiB. On the KVM guest
of bench/RESULTS.md ("Why the recorded PyTorch figures were 4-6x slow") it printed 10.6 us after
the memory had been free for 20 s and 0.43 us right after another process had used it.

    /usr/bin/python3 bench/tools/touch_memory.py 2
"""
import resource
import sys
import time

import numpy as np

gib = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
n = int(gib * (1 << 30)) // 8
t = time.perf_counter()
a = np.ones(n)
dt = time.perf_counter() - t
print(f"touch {gib} GiB: {dt:.3f} s = {dt / (n * 8 / 4096) * 1e6:.2f} us per 4 KiB page, "
      f"sys {resource.getrusage(resource.RUSAGE_SELF).ru_stime:.2f} s")

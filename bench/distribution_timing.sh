#!/usr/bin/env bash
# Runs one timed command (a data-parallel run of the demo or distribution_bench) and says how
# much else ran beside it: the load average before, and the CPUs the rest of the machine used
# during the run (all busy CPU time from /proc/stat minus the command's own). A figure with
# "others" above 0.3 CPUs is disturbed and should not be kept (the rule of bench/peer_timing.py).
#   bench/distribution_timing.sh CMD...       (under `quiet` for a recorded figure)
set -euo pipefail
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
hz=$(getconf CLK_TCK)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%H:%M:%S) UTC; OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}"
b0=$(busy)
t0=$(date +%s.%N)
"$@"
t1=$(date +%s.%N)
b1=$(busy)
# The command's own CPU time: this shell's waited-for children (cutime + cstime, /proc/PID/stat).
own=$(awk -v hz="$hz" '{ print ($16 + $17) / hz }' /proc/$$/stat)
awk -v b0="$b0" -v b1="$b1" -v hz="$hz" -v t0="$t0" -v t1="$t1" -v own="$own" 'BEGIN {
  wall = t1 - t0; all = (b1 - b0) / hz; others = (all - own) / wall; if (others < 0) others = 0;
  printf("wall %.2f s; this command %.2f CPU-s; others %.2f CPUs on average\n", wall, own, others) }'

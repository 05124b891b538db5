#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz (built with `scripts/build.sh fuzz`, in build-fuzz/)
# on their committed seed corpora, each for a fixed time with a fixed seed; fails when any
# target finds a crash, a sanitizer report, a non-md::Error exception, a hang or an allocation
# past the limits below. New inputs go to build-fuzz/fuzz/<target>/corpus, findings to
# build-fuzz/fuzz/<target>/ (crash-*, oom-*, timeout-*), the log to build-fuzz/fuzz/<target>.log.
#   tests/fuzz/run.sh [--seconds N] [--seed N] [--jobs J] [--timeout S] [target ...]   # CI: --seconds 60 --jobs 2
#   tests/fuzz/run.sh --merge [target ...]    # minimise the committed corpora (after new seeds)
# Limits: one input may take 20 s (-timeout; --timeout changes it: libFuzzer counts wall time, so
# long runs on a shared machine whose processes can be frozen need more) and one allocation
# 256 MB (-malloc_limit_mb); the
# readers themselves refuse more than fuzz::kReadCapBytes (64 MiB) per input with an md::Error.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=60
seed=1
jobs=1
merge=0
timeout=20
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --merge) merge=1; shift ;;
    -*) echo "run.sh: unknown option '$1'" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(keras3_config keras2_config keras_archive weights_h5 legacy_h5 idx)
build=${MINIDL_FUZZ_BUILD_DIR:-build-fuzz}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp}
# One OpenMP thread: the fuzzer runs one input at a time, and CI runs two targets at once.
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
limits=(-rss_limit_mb=2048 -malloc_limit_mb=256 -timeout="$timeout")

run_one() {
  local target=$1 bin="$build/tests/fuzz/fuzz_$1" out="$build/fuzz/$1"
  [ -x "$bin" ] || { echo "fuzz: $bin is missing: run scripts/build.sh fuzz" >&2; return 1; }
  rm -rf "$out" && mkdir -p "$out/corpus"
  if [ $merge = 1 ]; then
    "$bin" -merge=1 "${limits[@]}" "$out/corpus" "tests/fuzz/corpus/$target" >"$out.log" 2>&1 || {
      tail -n 40 "$out.log"; return 1; }
    rm -rf "tests/fuzz/corpus/$target" && cp -r "$out/corpus" "tests/fuzz/corpus/$target"
    echo "fuzz: $target: corpus minimised to $(ls "tests/fuzz/corpus/$target" | wc -l) files"
    return 0
  fi
  local dict=()
  case "$target" in keras3_config | keras2_config) dict=(-dict=tests/fuzz/keras_config.dict) ;; esac
  if "$bin" -seed="$seed" -max_total_time="$seconds" -print_final_stats=1 "${limits[@]}" "${dict[@]}" \
      -artifact_prefix="$out/" "$out/corpus" "tests/fuzz/corpus/$target" >"$out.log" 2>&1; then
    echo "fuzz: $target: $(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$out.log" | tail -n 1)"
  else
    echo "fuzz: $target FAILED (log $out.log; inputs: $(ls "$out" | grep -v '^corpus$' | tr '\n' ' '))"
    grep -v '^Warning' "$out.log" | tail -n 60
    return 1
  fi
}

failed=0
running=0
for target in "${targets[@]}"; do
  run_one "$target" &
  running=$((running + 1))
  if [ $running -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while [ $running -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
exit $failed

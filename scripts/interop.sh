#!/usr/bin/env bash
# The live interop check with real Keras (issue 12, item 4): minidl writes model.keras,
# model.weights.h5 and model.json for eight trained models (tools/interop/write_models.cpp), and
# Keras 3.15.1 loads them (keras.saving.load_model, model_from_json + load_weights), predicts and
# takes the next training step; both must agree with minidl within 1e-5 * max(1, |minidl|)
# (tools/keras_reference/interop_check.py). Prints a table and exits non-zero on any mismatch.
#
#   scripts/interop.sh            # Keras 3.15.1 on JAX (the keras3 environment)
#   scripts/interop.sh --tf216    # ... and again on TensorFlow 2.16 (tf216: Keras 3.15.1 on TensorFlow)
#   scripts/interop.sh --record   # also write the run into docs/INTEROP.md
#
# It installs what it needs: Debian's build packages (scripts/setup.sh), python3-venv and the
# pinned wheels from PyPI (tools/keras_reference/setup.sh, into build/keras_reference/; the first
# time downloads about 0.7 GB for keras3, 1.3 GB more for tf216), and builds minidl's writer
# (scripts/build.sh). Not part of scripts/test.sh or CI: it needs the network and Python wheels.
set -euo pipefail
cd "$(dirname "$0")/.."

record=false
envs=(keras3)
for arg in "$@"; do
  case "$arg" in
    --tf216) envs+=(tf216) ;;
    --record) record=true ;;
    *) echo "interop.sh: unknown option '$arg' (use --tf216, --record)" >&2; exit 2 ;;
  esac
done

scripts/setup.sh
scripts/build.sh release minidl_interop
tools/keras_reference/setup.sh "${envs[@]}" >/dev/null
env_root=${KERAS_REFERENCE_ENVS:-build/keras_reference}

out=build/interop
rm -rf "$out"
mkdir -p "$out"
echo "interop: minidl writes the eight models' files into $out/files"
./build/tools/interop/minidl_interop "$out/files"

status=0
for env in "${envs[@]}"; do
  case "$env" in
    keras3) backend=jax ;;
    tf216) backend=tensorflow ;;
  esac
  echo
  echo "interop: Keras ($env, backend $backend) loads them"
  KERAS_BACKEND=$backend TF_CPP_MIN_LOG_LEVEL=3 "$env_root/$env/bin/python" \
    tools/keras_reference/interop_check.py "$out/files" --markdown "$out/table_$env.md" || status=1
done

# The versions of what an environment runs, for the record.
versions() {
  "$1" - <<'PY'
import importlib.metadata as m
found = []
for package in ("keras", "jax", "jaxlib", "tensorflow-cpu", "numpy", "h5py"):
    try:
        found.append(f"{package} {m.version(package)}")
    except m.PackageNotFoundError:
        pass
print(", ".join(found))
PY
}

if $record; then
  doc=docs/INTEROP.md
  marker='<!-- Everything below is written by scripts/interop.sh --record. -->'
  if ! grep -qxF -- "$marker" "$doc"; then
    echo "interop.sh: $doc has no line '$marker'" >&2
    exit 1
  fi
  changes=""
  git diff --quiet HEAD -- . ':!docs/INTEROP.md' || changes=" (with uncommitted changes)"
  {
    awk -v marker="$marker" '{ print } $0 == marker { exit }' "$doc"
    echo
    echo "## Last run"
    echo
    echo "\`scripts/interop.sh $*\` on $(date -u '+%Y-%m-%d %H:%M UTC') at commit $(git rev-parse --short HEAD)$changes;"
    echo "$(. /etc/os-release && echo "$PRETTY_NAME"), $(uname -m), $(nproc) cores. Exit status: $status."
    for env in "${envs[@]}"; do
      echo
      echo "### $env: $(versions "$env_root/$env/bin/python")"
      echo
      cat "$out/table_$env.md"
    done
  } >"$doc.tmp"
  mv "$doc.tmp" "$doc"
  echo "interop: recorded in $doc"
fi
exit $status

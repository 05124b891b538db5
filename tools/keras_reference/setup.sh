#!/usr/bin/env bash
# Creates the Python environments that the Keras reference tools run in, under
# build/keras_reference/<env>/ (ignored by git; never a dependency of the build or the tests):
#   keras3   Keras 3.15.1 on the JAX CPU backend, h5py, numpy   (golden fixtures, interop)
#   tf216    tensorflow-cpu 2.16 (tf.keras of the API page minidl grew from)
#   tf215    tensorflow-cpu 2.15 (tf.keras 2: legacy .h5 files and Keras 2 configs)
# Every package is pinned in requirements-<env>.txt (a pip freeze of a working install).
#   tools/keras_reference/setup.sh [keras3|tf216|tf215|all] ...  (default: keras3)
# KERAS_REFERENCE_ENVS=<folder> makes or updates the environments there instead (a git worktree
# can share the main checkout's).
# Prints the python path of each environment it made or found.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tools/keras_reference
envs=("${@:-keras3}")
[ "${envs[0]}" = all ] && envs=(keras3 tf216 tf215)

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "keras_reference: python3-venv is missing; run: sudo apt-get install python3-venv" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi

for env in "${envs[@]}"; do
  requirements="$here/requirements-$env.txt"
  if [ ! -f "$requirements" ]; then
    echo "keras_reference: unknown environment '$env' (keras3, tf216, tf215 or all)" >&2
    exit 2
  fi
  dir="${KERAS_REFERENCE_ENVS:-build/keras_reference}/$env"
  if [ ! -x "$dir/bin/python" ]; then
    python3 -m venv "$dir"
  fi
  # --no-deps with a full freeze: exactly these versions, nothing resolved anew.
  "$dir/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements"
  echo "$dir/bin/python"
done

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
source tools/pinned_venvs.sh
envs=("${@:-keras3}")
[ "${envs[0]}" = all ] && envs=(keras3 tf216 tf215)
make_pinned_envs keras_reference tools/keras_reference "${KERAS_REFERENCE_ENVS:-build/keras_reference}" "${envs[@]}"

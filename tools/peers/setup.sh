#!/usr/bin/env bash
# Creates the Python environments the benchmark peers run in, under build/peers/<env>/ (ignored
# by git; tools, never a dependency of the build or the tests):
#   torch2   PyTorch 2.15.0 from PyPI (eager and torch.compile on the CPU; PyPI's wheel brings the
#            CUDA runtime packages with it, ~5.4 GB installed, unused here)
#   jax      JAX 0.10.2 with its CPU jaxlib (jax.jit through XLA)
# Every package is pinned in requirements-<env>.txt (a pip freeze of a working install).
#   tools/peers/setup.sh [torch2|jax|all] ...   (default: all)
# PEER_ENVS=<folder> makes or updates the environments there instead (a git worktree can share
# the main checkout's). Prints the python path of each environment it made or found.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tools/pinned_venvs.sh
envs=("${@:-all}")
[ "${envs[0]}" = all ] && envs=(torch2 jax)
make_pinned_envs peers tools/peers "${PEER_ENVS:-build/peers}" "${envs[@]}"

#!/usr/bin/env bash
# Creates the Python environments the benchmark peers run in, under build/peers/<env>/ (ignored
# by git; tools, never a dependency of the build or the tests):
#   torch2   PyTorch 2.15.0 from PyPI (eager and torch.compile on the CPU; PyPI's wheel brings the
#            CUDA runtime packages with it, ~5.4 GB installed, unused here)
# Every package is pinned in requirements-<env>.txt (a pip freeze of a working install).
#   tools/peers/setup.sh [torch2|all] ...   (default: all)
# PEER_ENVS=<folder> makes or updates the environments there instead (a git worktree can share
# the main checkout's). Prints the python path of each environment it made or found.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tools/peers
envs=("${@:-all}")
[ "${envs[0]}" = all ] && envs=(torch2)

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "peers: python3-venv is missing; run: sudo apt-get install python3-venv" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi

for env in "${envs[@]}"; do
  requirements="$here/requirements-$env.txt"
  if [ ! -f "$requirements" ]; then
    echo "peers: unknown environment '$env' (torch2 or all)" >&2
    exit 2
  fi
  dir="${PEER_ENVS:-build/peers}/$env"
  [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
  # --no-deps with a full freeze: exactly these versions, nothing resolved anew.
  "$dir/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements"
  echo "$dir/bin/python"
done

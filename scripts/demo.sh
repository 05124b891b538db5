#!/usr/bin/env bash
# Sets up, builds and runs the minidl demo.
#   scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --demo
scripts/build.sh release
./build/examples/demo "$@"

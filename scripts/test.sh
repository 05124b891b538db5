#!/usr/bin/env bash
# Sets up, builds (Release, -Werror) and runs the whole test suite with CTest.
#   scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
ctest --preset release

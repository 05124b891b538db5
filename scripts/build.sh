#!/usr/bin/env bash
# Configures and builds minidl with a CMake preset (default: release, in build/): everything, or
# only the targets named after the preset.
#   scripts/build.sh [preset] [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
shift || true
cmake --preset "$preset" >/dev/null
if [ $# -gt 0 ]; then
  cmake --build --preset "$preset" --target "$@"
else
  cmake --build --preset "$preset"
fi

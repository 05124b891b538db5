#!/usr/bin/env bash
# Sets up, builds and runs the minidl demo: AdditiveAttention on Fashion-MNIST (about two
# minutes of training on 2 cores), ending with "test_accuracy: <value>". Extra arguments go to
# the example (--epochs N, --data DIR); its config and graph plot land in build/demo/.
#   scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --demo
scripts/build.sh release
./build/examples/fashion_mnist_attention --out build/demo "$@"

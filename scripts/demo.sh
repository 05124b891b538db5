#!/usr/bin/env bash
# Sets up, builds and runs the minidl demo: AdditiveAttention on Fashion-MNIST, ending with
# "test_accuracy: <value>". It builds only the library and the demo program (about 2 minutes the
# first time on 2 cores; scripts/test.sh builds the tests and benchmarks), then trains for about
# 50 seconds (10 epochs) at 2 threads. Extra arguments go to the example (--epochs N, --data DIR);
# its config, graph plot and trained model land in build/demo/.
#   scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --demo
scripts/build.sh release fashion_mnist_attention
./build/examples/fashion_mnist_attention --out build/demo "$@"

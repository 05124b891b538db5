#!/usr/bin/env bash
# Regenerates the golden fixtures in tests/data/keras/ from real Keras: layers, the attention
# grid, activations, initializers, optimizers, schedules, metrics, functional models and
# training with Keras 3.15 on JAX (the keras3 environment), and the attention grid again with
# tf.keras of TensorFlow 2.16 (tf216). Deterministic: the files come out byte for byte the same.
#   tools/keras_reference/generate_fixtures.sh            # rewrite tests/data/keras/*.h5
#   tools/keras_reference/generate_fixtures.sh --check    # regenerate elsewhere and compare
# The environments come from tools/keras_reference/setup.sh (default: build/keras_reference;
# KERAS_REFERENCE_ENVS=<folder> uses environments made elsewhere).
set -euo pipefail
cd "$(dirname "$0")/../.."
envs=${KERAS_REFERENCE_ENVS:-build/keras_reference}
for pair in "keras3 jax" "tf216 tensorflow"; do
  read -r env backend <<<"$pair"
  python="$envs/$env/bin/python"
  if [ ! -x "$python" ]; then
    echo "generate_fixtures: $python is missing; run tools/keras_reference/setup.sh all" >&2
    exit 1
  fi
  TF_CPP_MIN_LOG_LEVEL=2 "$python" tools/keras_reference/generate_fixtures.py --backend "$backend" "$@"
done

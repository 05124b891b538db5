#!/usr/bin/env python3
"""Writes minidl's golden fixtures (tests/data/keras/*.h5, and the model files in
tests/data/keras/files/) from real Keras (issue 12).

  # Keras 3.15 on JAX (layers, attention, activations, initializers, optimizers, schedules, losses,
  # metrics, models, training, model files):
  build/keras_reference/keras3/bin/python tools/keras_reference/generate_fixtures.py --backend jax
  # tf.keras of TensorFlow 2.16 (Keras 3.15 on TensorFlow): the attention grid again
  build/keras_reference/tf216/bin/python tools/keras_reference/generate_fixtures.py --backend tensorflow
  # either, with --check: regenerate into a scratch folder and compare with the committed files

tools/keras_reference/generate_fixtures.sh runs both. Everything is seeded: re-running gives
the same files, byte for byte (see fixtures/store.py). The format is in README.md.
"""

import argparse
import os
import pathlib
import shutil
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_OUT = REPO / "tests" / "data" / "keras"

# What each backend writes: file name -> kind.
FILES = {
    "jax": {"layers.h5": "layers", "attention_keras3.h5": "attention", "activations.h5": "activations",
            "initializers.h5": "initializers", "optimizers.h5": "optimizers", "schedules.h5": "schedules",
            "losses.h5": "losses", "metrics.h5": "metrics", "models.h5": "models", "training.h5": "training",
            "files.h5": "files", "layers_conv.h5": "layers_conv", "layers_pooling.h5": "pooling",
            "layers_reshaping.h5": "reshaping", "regularization.h5": "regularization",
            "layers_recurrent.h5": "recurrent", "layers_attention_mha.h5": "layers_attention_mha",
            "layers_recurrent_state.h5": "recurrent_state"},
    "tensorflow": {"attention_tf216.h5": "attention"},
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=sorted(FILES), required=True,
                        help="Keras backend: jax (the keras3 environment) or tensorflow (tf216)")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--only", action="append", default=[], help="write only this file (repeatable)")
    parser.add_argument("--check", action="store_true",
                        help="regenerate into a scratch folder and compare with the files in --out; exit 1 on a difference")
    return parser.parse_args()


def main():
    args = parse_args()
    # The backend is fixed when keras is first imported.
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    sys.path.insert(0, str(HERE))

    import keras
    import warnings

    from fixtures import (activation_cases, attention_cases, attention_mha_layer_cases, conv_layer_cases, file_cases,
                          initializer_cases, layer_cases, loss_cases, metric_cases, model_cases, optimizer_cases,
                          pooling_layer_cases, recurrent_layer_cases, recurrent_state_layer_cases,
                          reshaping_layer_cases)
    from fixtures.store import FixtureFile

    warnings.filterwarnings("ignore", message=".*rms_scaling.*")  # deprecated in Keras, still covered
    if keras.backend.backend() != args.backend:
        sys.exit(f"keras runs on {keras.backend.backend()}, not {args.backend}")
    if args.backend == "jax":
        import jax
        jax.config.update("jax_default_matmul_precision", "highest")
    generators = {"layers": layer_cases.generate, "attention": attention_cases.generate,
                  "activations": activation_cases.generate, "initializers": initializer_cases.generate,
                  "optimizers": optimizer_cases.generate, "schedules": optimizer_cases.generate_schedules,
                  "losses": loss_cases.generate, "metrics": metric_cases.generate,
                  "models": model_cases.generate, "training": model_cases.generate_training,
                  "files": file_cases.generate, "layers_conv": conv_layer_cases.generate,
                  "pooling": pooling_layer_cases.generate, "reshaping": reshaping_layer_cases.generate,
                  "regularization": reshaping_layer_cases.generate_regularization,
                  "recurrent": recurrent_layer_cases.generate,
                  "recurrent_state": recurrent_state_layer_cases.generate,
                  "layers_attention_mha": attention_mha_layer_cases.generate}
    files = FILES[args.backend]
    selected = args.only or list(files)
    # generate_fixtures.sh runs every backend with the same --only: a file of another backend is
    # that backend's to write; a name no backend writes is an error.
    known = {name for backend_files in FILES.values() for name in backend_files}
    for name in selected:
        if name not in known:
            sys.exit(f"{name} is not a fixture file (the {args.backend} backend writes {', '.join(files)})")
    selected = [name for name in selected if name in files]
    if not selected:
        print(f"nothing to write with the {args.backend} backend")
        return

    keras_version = keras.__version__
    generator = "tools/keras_reference/generate_fixtures.py --backend " + args.backend
    target = pathlib.Path(tempfile.mkdtemp(prefix="minidl_fixtures_")) if args.check else args.out
    target.mkdir(parents=True, exist_ok=True)
    for name in selected:
        kind = files[name]
        fixture = FixtureFile(target / name, kind=kind, keras_version=keras_version, backend=args.backend,
                              generator=generator)
        generators[kind](fixture, keras_version, args.backend)
        count = fixture.count
        fixture.close()
        print(f"{target / name}: {count} {kind} cases, {(target / name).stat().st_size} bytes")

    if args.check:
        from fixtures.compare import compare_files, compare_folders
        failures = 0
        for name in selected:
            failures += compare_files(args.out / name, target / name)
            if files[name] == "files":  # and the model files beside it
                failures += compare_folders(args.out / file_cases.FOLDER, target / file_cases.FOLDER)
        shutil.rmtree(target)
        sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

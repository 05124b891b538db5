#!/usr/bin/env python3
"""The Keras half of the live interop check (scripts/interop.sh, issue 12 item 4).

tools/interop/write_models.cpp (minidl_interop) writes, for the ten models of
fixtures/file_models.py, OUT/<case>/model.keras, model.weights.h5, model.json and io.json
(minidl's inputs, predictions and next training step). This script loads each file with real
Keras and compares:

  .keras        keras.saving.load_model: predictions
  .keras step   the model load_model gave, train_on_batch on minidl's next batch: the loss,
                the iterations, every weight and optimizer variable after the step (the
                optimizer state minidl saved must be the one Keras continues from)
  .json + .h5   keras.models.model_from_json (compiled from the compile_config minidl's to_json
                holds, its optimizer built), then model.load_weights (weights and the
                .weights.h5's /optimizer/vars): predictions, then the same step

Values must agree within |Keras - minidl| <= 1e-5 * max(1, |minidl|), as in tests/keras. Any
warning Keras gives while loading is a failure too (Keras warns, for instance, when it skips an
optimizer state it cannot match), deprecation notices aside. Prints a Markdown table; exits 1 on any mismatch.

  KERAS_BACKEND=jax build/keras_reference/keras3/bin/python tools/keras_reference/interop_check.py OUT
"""

import argparse
import json
import os
import pathlib
import sys
import warnings

HERE = pathlib.Path(__file__).resolve().parent
TOLERANCE = 1e-5


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=pathlib.Path, help="what minidl_interop wrote")
    parser.add_argument("--markdown", type=pathlib.Path, help="also write the table to this file")
    return parser.parse_args()


def main():
    args = parse_args()
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    sys.path.insert(0, str(HERE))

    import keras
    import numpy as np

    from fixtures.custom_layers import CUSTOM_OBJECTS
    from fixtures.file_models import CASES

    if keras.backend.backend() == "jax":
        import jax
        jax.config.update("jax_default_matmul_precision", "highest")
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        tf.get_logger().setLevel("ERROR")  # tf.function retracing notices: each model is traced anew

    def array(entry):
        return np.asarray(entry["values"], dtype=entry["dtype"]).reshape(entry["shape"])

    def argument(entries):
        xs = [array(e) for e in entries]
        return xs if len(xs) > 1 else xs[0]

    def relative_error(actual, expected):
        actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
        if actual.shape != expected.shape:
            return float("inf")
        if actual.size == 0:
            return 0.0
        return float(np.max(np.abs(actual - expected) / np.maximum(1.0, np.abs(expected))))

    rows = []
    failures = 0

    def row(case, kind, check, error, note=""):
        nonlocal failures
        ok = error <= TOLERANCE and not note
        failures += not ok
        rows.append((case, kind, check, "inf" if error == float("inf") else f"{error:.2e}", "ok" if ok else "MISMATCH",
                     note))

    def load(what, function):
        """Runs a Keras loading call, turning its warnings into a note."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = function()
        # Deprecation notices are about the environment (Keras 3.15's Variable.__array__ under
        # NumPy 2 warns in compile_from_config for Keras's own files too), not about the file.
        ignored = (DeprecationWarning, PendingDeprecationWarning, ResourceWarning)
        notes = [f"{what}: {w.message}" for w in caught if not issubclass(w.category, ignored)]
        return result, "; ".join(notes)

    def next_step(model, io):
        step = io["step"]
        logs = model.train_on_batch(argument(step["inputs"]), array(step["targets"]), return_dict=True)
        errors = [relative_error(np.float32(logs["loss"]), np.float32(step["loss"]))]
        note = ""
        if int(model.optimizer.iterations.numpy()) != step["iterations"]:
            note = f"iterations {int(model.optimizer.iterations.numpy())}, minidl {step['iterations']}"
        for kind, variables in (("weights", model.weights), ("optimizer_variables", model.optimizer.variables)):
            expected = step[kind]
            if len(variables) != len(expected):
                note += f" {len(variables)} {kind}, minidl {len(expected)}"
                continue
            for variable, entry in zip(variables, expected):
                errors.append(relative_error(variable.numpy(), array(entry["value"])))
        return max(errors), note.strip()

    expected_cases = [case.name for case in CASES]
    found = sorted(p.name for p in args.folder.iterdir() if p.is_dir()) if args.folder.is_dir() else []
    if sorted(expected_cases) != found:
        print(f"interop_check: {args.folder} holds {found}, expected the models {sorted(expected_cases)}")
        return 1

    for name in expected_cases:
        folder = args.folder / name
        io = json.loads((folder / "io.json").read_text())
        x, expected = argument(io["inputs"]), array(io["outputs"][0])
        keras_path, weights_path, json_path = folder / "model.keras", folder / "model.weights.h5", folder / "model.json"

        keras.backend.clear_session()
        model, note = load("load_model", lambda: keras.saving.load_model(keras_path, custom_objects=CUSTOM_OBJECTS))
        row(name, "model.keras", "keras.saving.load_model: predict", relative_error(model.predict(x, verbose=0),
                                                                                      expected), note)
        if "step" in io:
            error, step_note = next_step(model, io)
            row(name, "model.keras", "then train_on_batch: loss, weights, optimizer", error, step_note)

        def from_json():
            restored = keras.models.model_from_json(json_path.read_text(), custom_objects=CUSTOM_OBJECTS)
            restored.load_weights(weights_path)
            return restored

        keras.backend.clear_session()
        restored, note = load("model_from_json + load_weights", from_json)
        if not restored.compiled:  # to_json holds the compile_config; model_from_json compiles from it
            note = "; ".join(n for n in (note, "model_from_json gave an uncompiled model") if n)
        row(name, "model.json + model.weights.h5", "model_from_json, load_weights: predict",
            relative_error(restored.predict(x, verbose=0), expected), note)
        if restored.compiled and "step" in io:
            error, step_note = next_step(restored, io)
            row(name, "model.json + model.weights.h5", "then train_on_batch: loss, weights, optimizer", error,
                step_note)

    header = ("model", "file", "Keras loads, then", "max rel. error", "status")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(v).ljust(w) for v, w in zip(r[:5], widths)) + " |")
    notes = [f"- {r[0]}, {r[2]}: {r[5]}" for r in rows if r[5]]
    summary = (f"{len(rows) - failures} passed, {failures} failed: Keras {keras.__version__} on "
               f"{keras.backend.backend()}, tolerance {TOLERANCE:g} * max(1, |minidl|)")
    text = "\n".join(lines + ([""] + notes if notes else []) + ["", summary]) + "\n"
    print(text, end="")
    if args.markdown:
        args.markdown.write_text(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Keras 2 format fixtures for minidl (issue 12, item 5), written by real tf.keras 2.15.

Run it in the tf215 environment (tools/keras_reference/setup.sh all):

    build/keras_reference/tf215/bin/python tools/keras_reference/generate_keras2_fixtures.py

It writes tests/data/keras/keras2/ (the folder is emptied first):

  <model>.json      model.to_json(): a Keras 2 config (batch_input_shape, list-style
                    inbound_nodes, keras_version/backend keys, string dtypes, ...)
  <model>.h5        model.save("<model>.h5") after compile and one epoch of fit on fixed
                    data: the legacy whole-model file (model_config, training_config,
                    /model_weights/<layer>/<layer>/<name>:0, optimizer_weights)
  <model>_io.h5     inputs "x0", "x1", ... and the model's predictions "y0", "y1", ...
                    (model.predict on the .h5 as Keras 2 loads it; attributes tensorflow_version,
                    keras_version, generator), and for most models one more training step from
                    the loaded file: "step/x0", "step/y", "step/loss", "step/iterations" and
                    "step/weights/<layer>/<weight>" after it (the optimizer state must be restored)
  <model>_weights.h5  model.save_weights("<model>_weights.h5") for the models in WEIGHTS_ONLY:
                    Keras 2's weights-only layout (layer groups at the root)
  bad_<case>.json   configs that named what minidl once lacked; each loads now (its "expect" says what
                    the test checks)
  manifest.json     the cases, the versions that wrote them, and what each one checks

Everything is seeded (tf.keras.utils.set_random_seed before each model, NumPy RandomState for
the data) and fit runs with shuffle=False on one thread, so a re-run writes the same numbers.
"""
import json
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras as keras_package  # noqa: E402  (Keras 2.15, the package tf.keras is)
import tensorflow as tf  # noqa: E402

keras = tf.keras
layers = keras.layers

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(REPO, "tests", "data", "keras", "keras2")
GENERATOR = "tools/keras_reference/generate_keras2_fixtures.py"

tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.threading.set_intra_op_parallelism_threads(1)


def seed(value):
    keras.utils.set_random_seed(value)
    return np.random.RandomState(value)


# ---- the models ------------------------------------------------------------------------------
# Each builder returns a Case: the compiled model, the inputs to predict, the data of the one
# epoch of fit, what the case checks, and the batch of one more training step (None where minidl
# cannot take that step the same way: Dropout draws differ, minidl trains one output).


def case(model, inputs, fit_x, fit_y, checks, step=None):
    return {"model": model, "inputs": inputs, "fit_x": fit_x, "fit_y": fit_y, "checks": checks, "step": step}


def sequential_mlp():
    """Sequential with an Input, Dense/Dropout/Activation; Adam, sparse CE, accuracy."""
    rng = seed(101)
    model = keras.Sequential(
        [
            keras.Input(shape=(8,), name="features"),
            layers.Dense(16, activation="relu", kernel_initializer="he_normal", name="hidden"),
            layers.Dropout(0.25, name="drop"),
            layers.Dense(12, use_bias=False, name="bottleneck"),
            layers.Activation("tanh", name="squash"),
            layers.Dense(3, activation="softmax", name="probs"),
        ],
        name="sequential_mlp",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    x = rng.normal(size=(64, 8)).astype("float32")
    y = rng.randint(0, 3, size=(64,)).astype("int32")
    return case(model, [x[:10]], [x], y,
                "Sequential + Input; Dense (he_normal, no bias, softmax), Dropout, Activation; Adam")


def sequential_reshape_flatten():
    """Sequential without an Input: batch_input_shape on the first layer; Reshape, Flatten; legacy RMSprop."""
    rng = seed(202)
    model = keras.Sequential(
        [
            layers.Reshape((3, 4), input_shape=(12,)),
            layers.Dense(5, activation="sigmoid", kernel_initializer="lecun_uniform", bias_initializer="ones"),
            layers.Flatten(),
            layers.Dense(2),
        ],
        name="reshape_flatten",
    )
    # A legacy (optimizer_v2) optimizer: its weights are named <optimizer>/<variable>/<slot>.
    model.compile(optimizer=keras.optimizers.legacy.RMSprop(learning_rate=0.003, rho=0.8, momentum=0.5), loss="mse",
                  metrics=["mae"])
    x = rng.normal(size=(48, 12)).astype("float32")
    y = rng.normal(size=(48, 2)).astype("float32")
    step = ([rng.normal(size=(8, 12)).astype("float32")], rng.normal(size=(8, 2)).astype("float32"))
    return case(model, [x[:7]], [x], y,
                "Sequential without Input (batch_input_shape on Reshape); Dense on 3-d; Flatten; legacy RMSprop "
                "with momentum", step)


def functional_two_towers():
    """Two inputs, a shared Dense called twice, Add and Concatenate, two outputs; SGD + momentum."""
    rng = seed(303)
    a = keras.Input(shape=(6,), name="left")
    b = keras.Input(shape=(6,), name="right")
    shared = layers.Dense(5, activation="tanh", name="shared")
    ha, hb = shared(a), shared(b)
    summed = layers.Add(name="add")([ha, hb])
    joined = layers.Concatenate(name="concat")([ha, hb])
    out1 = layers.Dense(1, name="regression")(summed)
    out2 = layers.Dense(3, activation="softmax", name="classes",
                        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.2, seed=7))(joined)
    model = keras.Model([a, b], [out1, out2], name="two_towers")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9), loss="mse")
    xa = rng.normal(size=(40, 6)).astype("float32")
    xb = rng.normal(size=(40, 6)).astype("float32")
    y1 = rng.normal(size=(40, 1)).astype("float32")
    y2 = rng.uniform(size=(40, 3)).astype("float32")
    return case(model, [xa[:6], xb[:6]], [xa, xb], [y1, y2],
                "Functional: two inputs, shared layer (two nodes), Add, Concatenate, two outputs; SGD momentum")


def embedding_pooling():
    """Embedding(mask_zero) + GlobalAveragePooling1D (masked mean) + Dense; Adagrad, binary CE."""
    rng = seed(404)
    tokens = keras.Input(shape=(10,), dtype="int32", name="tokens")
    emb = layers.Embedding(30, 8, mask_zero=True, name="embed")(tokens)
    pooled = layers.GlobalAveragePooling1D(name="pool")(emb)
    out = layers.Dense(1, activation="sigmoid", name="score")(pooled)
    model = keras.Model(tokens, out, name="embedding_pooling")
    model.compile(optimizer=keras.optimizers.Adagrad(learning_rate=0.1), loss="binary_crossentropy",
                  metrics=["accuracy"])
    x = rng.randint(1, 30, size=(50, 10)).astype("int32")
    lengths = rng.randint(1, 11, size=(50,))
    for i, n in enumerate(lengths):
        x[i, n:] = 0  # padding the mask hides
    y = rng.randint(0, 2, size=(50, 1)).astype("float32")
    step = ([x[:8]], y[:8])
    return case(model, [x[:8]], [x], y,
                "Embedding(mask_zero=True) + masked GlobalAveragePooling1D; int32 input; Adagrad", step)


def layer_norm():
    """LayerNormalization (default and center=False), Dense on sequences; AdamW."""
    rng = seed(505)
    x_in = keras.Input(shape=(5, 8), name="seq")
    h = layers.LayerNormalization(name="norm_in")(x_in)
    h = layers.Dense(6, activation="gelu", name="proj")(h)
    h = layers.LayerNormalization(epsilon=1e-5, center=False, name="norm_mid")(h)
    h = layers.GlobalAveragePooling1D(name="pool")(h)
    out = layers.Dense(2, name="head")(h)
    model = keras.Model(x_in, out, name="layer_norm")
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=0.02, weight_decay=0.01),
                  loss=keras.losses.MeanSquaredError())
    x = rng.normal(size=(32, 5, 8)).astype("float32")
    y = rng.normal(size=(32, 2)).astype("float32")
    step = ([rng.normal(size=(6, 5, 8)).astype("float32")], rng.normal(size=(6, 2)).astype("float32"))
    return case(model, [x[:5]], [x], y, "LayerNormalization (axis list, center=False); gelu; loss object; AdamW",
                step)


def attention_qv():
    """Attention and AdditiveAttention on (query, value), Tq != Tv; Adam with amsgrad off."""
    rng = seed(606)
    q = keras.Input(shape=(4, 8), name="query")
    v = keras.Input(shape=(6, 8), name="value")
    dot = layers.Attention(use_scale=True, name="dot_attention")([q, v])
    add = layers.AdditiveAttention(name="additive_attention")([q, v])
    joined = layers.Concatenate(axis=-1, name="joined")([dot, add])
    pooled = layers.GlobalAveragePooling1D(name="pool")(joined)
    out = layers.Dense(3, name="logits")(pooled)
    model = keras.Model([q, v], out, name="attention_qv")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.005, beta_1=0.8),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    xq = rng.normal(size=(24, 4, 8)).astype("float32")
    xv = rng.normal(size=(24, 6, 8)).astype("float32")
    y = rng.randint(0, 3, size=(24,)).astype("int32")
    step = ([xq[4:10], xv[4:10]], y[4:10])
    return case(model, [xq[:4], xv[:4]], [xq, xv], y,
                "Functional (query, value): Attention(use_scale), AdditiveAttention, Concatenate; from_logits loss",
                step)


def nested_models():
    """A Functional and a Sequential nested in a Functional (Keras 2 numbers their nodes from 1)."""
    rng = seed(707)
    inner_in = keras.Input(shape=(4,), name="inner_in")
    hidden = layers.Dense(5, activation="relu", name="inner_hidden")(inner_in)
    encoder = keras.Model(inner_in, layers.Dense(3, name="inner_dense")(hidden), name="encoder")
    head = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2, name="head_dense")], name="head")
    x = keras.Input(shape=(4,), name="x")
    model = keras.Model(x, head(encoder(x)), name="nested_models")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
    xs = rng.normal(size=(32, 4)).astype("float32")
    y = rng.normal(size=(32, 2)).astype("float32")
    return case(model, [xs[:5]], [xs], y,
                "Functional with a nested Functional and a nested Sequential: node numbering, grouped weights")


# Models whose weights are also saved alone, as tf.keras 2's model.save_weights("x.h5") writes them.
WEIGHTS_ONLY = {"functional_two_towers"}

MODELS = [sequential_mlp, sequential_reshape_flatten, functional_two_towers, embedding_pooling, layer_norm,
          attention_qv, nested_models]


# ---- configs minidl must refuse ---------------------------------------------------------------


def bad_cases():
    """(name, model, what is true of it in minidl) for configs that named what minidl once lacked
    (tests/models/keras2_format_test.cpp: each loads now)."""
    cases = []
    seed(717)
    img = keras.Input(shape=(8, 8, 1), name="image")
    h = layers.Conv2D(4, 3, name="conv")(img)
    out = layers.Dense(2, name="out")(layers.Flatten(name="flat")(h))
    cases.append(("bad_conv2d", keras.Model(img, out, name="conv_net"),
                  "once a layer class minidl lacked (Conv2D); now loads: conv/kernel (3, 3, 1, 4) as Keras's"))
    seed(718)
    cases.append(("bad_lstm", keras.Sequential([keras.Input(shape=(5, 3)), layers.LSTM(4, name="rnn"),
                                                layers.Dense(1, name="out")], name="rnn_net"),
                  "once a layer class minidl lacked (LSTM) in a Sequential; now loads: rnn/lstm_cell/kernel (3, 16), "
                  "recurrent_kernel (4, 16), bias"))
    seed(719)
    x = keras.Input(shape=(4,))
    out = layers.Dense(3, kernel_regularizer=keras.regularizers.L2(0.01), name="regularized")(x)
    cases.append(("bad_regularizer", keras.Model(x, out, name="regularized_net"),
                  "once a key minidl did not implement (kernel_regularizer); now loads with tf.keras's L2(0.01)"))
    seed(720)
    x = keras.Input(shape=(4,))
    out = layers.Dense(3, kernel_initializer="orthogonal", name="orthogonal_dense")(x)
    cases.append(("bad_initializer", keras.Model(x, out, name="orthogonal_net"),
                  "once an initializer minidl lacked (Orthogonal); now loads; the test swaps in Identity (still "
                  "lacking) for the error naming the layer and kernel_initializer"))
    return cases


# ---- writing ---------------------------------------------------------------------------------


def one_step(model, step):
    """train_on_batch on the model Keras 2 loaded from the .h5: the loss and every weight after."""
    xs, y = step
    logs = model.train_on_batch(xs if len(xs) > 1 else xs[0], y)
    loss = logs[0] if isinstance(logs, list) else logs
    weights = {}
    for layer in model.layers:
        for w in layer.weights:
            weights[f"{layer.name}/{w.name.split('/')[-1].split(':')[0]}"] = w.numpy()
    return loss, int(model.optimizer.iterations.numpy()), weights


def write_io(path, inputs, outputs, step=None, after=None):
    with h5py.File(path, "w", track_order=True) as f:
        f.attrs["tensorflow_version"] = tf.__version__
        f.attrs["keras_version"] = keras_package.__version__
        f.attrs["generator"] = GENERATOR
        for i, x in enumerate(inputs):
            f.create_dataset(f"x{i}", data=x)
        for i, y in enumerate(outputs):
            f.create_dataset(f"y{i}", data=y.astype("float32"))
        if step is not None:
            # One more training step from the loaded file: x, y, the loss, iterations and weights after.
            xs, y = step
            loss, iterations, weights = after
            for i, x in enumerate(xs):
                f.create_dataset(f"step/x{i}", data=x)
            f.create_dataset("step/y", data=y)
            f.create_dataset("step/loss", data=np.float32(loss))
            f.create_dataset("step/iterations", data=np.int64(iterations))
            for name, value in weights.items():
                f.create_dataset(f"step/weights/{name}", data=value)


def pretty_config(model):
    # model.to_json() is compact; the indented form is the same JSON and easier to review.
    return json.dumps(json.loads(model.to_json()), indent=2, sort_keys=False) + "\n"


def main():
    if not tf.__version__.startswith("2.15.") or not keras_package.__version__.startswith("2.15."):
        sys.exit(f"needs tensorflow 2.15 with Keras 2.15 (the tf215 environment); found tensorflow "
                 f"{tf.__version__}, keras {keras_package.__version__}")
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    manifest = {"tensorflow_version": tf.__version__, "keras_version": keras_package.__version__, "generator": GENERATOR,
                "models": [], "weights_files": [], "bad_configs": []}
    for build in MODELS:
        name = build.__name__
        c = build()
        model, inputs = c["model"], c["inputs"]
        model.fit(c["fit_x"], c["fit_y"], epochs=1, batch_size=8, shuffle=False, verbose=0)
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            f.write(pretty_config(model))
        h5_path = os.path.join(OUT, f"{name}.h5")
        model.save(h5_path, save_format="h5")
        if name in WEIGHTS_ONLY:
            # model.save_weights("x.h5"): the same layer groups at the file's root, no config.
            model.save_weights(os.path.join(OUT, f"{name}_weights.h5"))
            manifest["weights_files"].append({"model": name, "file": f"{name}_weights.h5"})
        # The predictions of the file as Keras 2 reads it back (the same as the live model's).
        loaded = keras.models.load_model(h5_path)
        outputs = loaded.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
        if not isinstance(outputs, list):
            outputs = [outputs]
        live = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
        for a, b in zip(outputs, live if isinstance(live, list) else [live]):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
        after = one_step(loaded, c["step"]) if c["step"] is not None else None
        write_io(os.path.join(OUT, f"{name}_io.h5"), inputs, outputs, c["step"], after)
        loss = model.loss  # what compile() was given: a name or a Loss object
        manifest["models"].append({
            "name": name, "checks": c["checks"], "inputs": len(inputs), "outputs": len(outputs),
            "next_step": c["step"] is not None,
            # The compile state keras.models.load_model restores from training_config.
            "compiled": {
                "optimizer": type(loaded.optimizer).__name__,
                "learning_rate": float(loaded.optimizer.learning_rate.numpy()),
                "loss": loss if isinstance(loss, str) else type(loss).__name__,
                "metrics": [m for m in model.metrics_names if m != "loss" and not m.endswith("_loss")],
            }})
        print(f"{name}: {len(model.layers)} layers, {model.count_params()} parameters")
    for name, model, expect in bad_cases():
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            f.write(pretty_config(model))
        manifest["bad_configs"].append({"name": name, "expect": expect})
        print(f"{name}: {expect}")
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()

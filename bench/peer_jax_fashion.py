#!/usr/bin/env python3
"""The JAX peer of examples/fashion_mnist_attention.cpp, mlp_fashion_mnist.cpp and
cnn_fashion_mnist.cpp: the same networks, initialisers, Adam (Keras's epsilon 1e-7 and bias
correction), learning-rate schedule, batch size, validation split (the last 10%) as
bench/peer_pytorch_fashion.py, written the way a JAX user writes them: plain functions of a
parameter tree, one jax.jit training step (forward, loss, jax.grad, the Adam update, donated
state), NHWC images for the CNN. Prints seconds per epoch and test accuracy in the same format.
An epoch does what an epoch of the examples' Keras-style fit() does, and its time covers all of
it: the shuffled training batches with the running loss and accuracy (computed inside the jitted
step), then the loss and accuracy on the validation split in batches of the training batch size.
Before 2026-12-08 the timed epoch left out the validation pass and the accuracy.
Before the first epoch the step and the evaluation are compiled for every batch shape the run
meets (not timed), on a copy of the state, so the epochs time compiled code.
--threads N keeps the process on N CPUs before JAX starts (XLA sizes its pools from them).

  build/peers/jax/bin/python bench/peer_jax_fashion.py --model mlp --epochs 3 --threads 2
"""
import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_timing  # noqa: E402
from fashion_data import DATA_DIR, load  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["attention", "mlp", "cnn"], default="attention")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", default=DATA_DIR)
    parser.add_argument("--limit", type=int, default=0,
                        help="train on the first N training images only (a quick run that the model works)")
    args = parser.parse_args()
    cpus = peer_timing.limit_cpus(args.threads)

    import jax
    import jax.numpy as jnp
    import numpy as np

    x_train, y_train, x_test, y_test = load(args.data)
    x_train = x_train.astype(np.float32) / 255.0
    x_test = x_test.astype(np.float32) / 255.0
    y_train = y_train.astype(np.int32)
    y_test = y_test.astype(np.int32)
    split = int(math.floor(len(x_train) * 0.9))
    x_val, y_val = x_train[split:], y_train[split:]
    x_train, y_train = x_train[:split], y_train[:split]
    if args.limit > 0:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]

    rng = np.random.default_rng(1337)

    def glorot(fan_in, fan_out, shape=None):
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return jnp.asarray(rng.uniform(-limit, limit, shape or (fan_in, fan_out)).astype(np.float32))

    def dense_params(n_in, n_out):
        return {"w": glorot(n_in, n_out), "b": jnp.zeros((n_out,), jnp.float32)}

    def dense(p, x):
        return x @ p["w"] + p["b"]

    def layer_norm(p, x, eps=1e-3):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / jnp.sqrt(var + eps) * p["gamma"] + p["beta"]

    def dropout(x, rate, key):
        keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
        return jnp.where(keep, x / (1.0 - rate), 0.0)

    # Each model: params, batch-norm statistics (CNN only) and apply(params, stats, x, train, key)
    # -> (logits, new stats).
    if args.model == "mlp":
        params = {"d1": dense_params(784, 256), "d2": dense_params(256, 128), "d3": dense_params(128, 10)}
        stats = {}

        def apply(p, s, x, train, key):
            h = x.reshape(x.shape[0], -1)
            h = jax.nn.relu(dense(p["d1"], h))
            h = jax.nn.relu(dense(p["d2"], h))
            return dense(p["d3"], h), s
    elif args.model == "attention":
        limit = math.sqrt(6.0 / 256)
        params = {"proj": dense_params(28, 128),
                  "pos": jnp.asarray((rng.standard_normal((28, 128)) * 0.02).astype(np.float32)),
                  "scale": jnp.asarray(rng.uniform(-limit, limit, (128,)).astype(np.float32)),
                  "norm": {"gamma": jnp.ones((128,)), "beta": jnp.zeros((128,))},
                  "mlp": dense_params(128, 128), "logits": dense_params(128, 10)}
        stats = {}

        def apply(p, s, x, train, key):
            h = jax.nn.relu(dense(p["proj"], x) + p["pos"])
            scores = (p["scale"] * jnp.tanh(h[:, :, None, :] + h[:, None, :, :])).sum(-1)
            a = jax.nn.softmax(scores, axis=-1) @ h
            h = layer_norm(p["norm"], h + a)
            h = jax.nn.relu(dense(p["mlp"], h)).mean(axis=1)
            return dense(p["logits"], h), s
    else:
        def conv_params(c_in, c_out):  # HWIO, glorot with Keras's fans for a 3x3 kernel
            return glorot(9 * c_in, 9 * c_out, (3, 3, c_in, c_out))

        def bn_params(c):
            return {"gamma": jnp.ones((c,)), "beta": jnp.zeros((c,))}

        params = {"c1": conv_params(1, 32), "bn1": bn_params(32), "c2": conv_params(32, 64), "bn2": bn_params(64),
                  "d1": dense_params(7 * 7 * 64, 128), "d2": dense_params(128, 10)}
        stats = {"bn1": {"mean": jnp.zeros((32,)), "var": jnp.ones((32,))},
                 "bn2": {"mean": jnp.zeros((64,)), "var": jnp.ones((64,))}}

        def conv(w, x):
            return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

        def batch_norm(p, s, x, train, momentum=0.99, eps=1e-3):
            if train:
                mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
                s = {"mean": s["mean"] * momentum + mean * (1 - momentum),
                     "var": s["var"] * momentum + var * (1 - momentum)}
            else:
                mean, var = s["mean"], s["var"]
            return (x - mean) / jnp.sqrt(var + eps) * p["gamma"] + p["beta"], s

        def pool(x):
            return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

        def apply(p, s, x, train, key):
            h, s1 = batch_norm(p["bn1"], s["bn1"], conv(p["c1"], x[..., None]), train)
            h = pool(jax.nn.relu(h))
            h, s2 = batch_norm(p["bn2"], s["bn2"], conv(p["c2"], h), train)
            h = pool(jax.nn.relu(h)).reshape(x.shape[0], -1)
            k1, k2 = jax.random.split(key)
            if train:
                h = dropout(h, 0.3, k1)
            h = jax.nn.relu(dense(p["d1"], h))
            if train:
                h = dropout(h, 0.3, k2)
            return dense(p["d2"], h), {"bn1": s1, "bn2": s2}

    steps = (len(x_train) + args.batch_size - 1) // args.batch_size
    total = max(1, args.epochs * steps)
    if args.model == "mlp":
        def learning_rate(step):
            return 1e-3
    else:
        alpha = 0.05 if args.model == "attention" else 0.02

        def learning_rate(step):  # Keras's CosineDecay(2e-3, total, alpha)
            t = jnp.minimum(step, total) / total
            return 2e-3 * ((1 - alpha) * 0.5 * (1 + jnp.cos(jnp.pi * t)) + alpha)

    def cross_entropy(logits, y):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

    def loss_of(p, s, x, y, key):
        logits, s = apply(p, s, x, True, key)
        return cross_entropy(logits, y), (s, logits)

    def train_step(state, x, y, key):
        p, s, m, v, step = state
        (loss, (s, logits)), g = jax.value_and_grad(loss_of, has_aux=True)(p, s, x, y, key)
        correct = jnp.sum(logits.argmax(-1) == y)
        step = step + 1
        lr = learning_rate(step - 1)
        b1, b2, eps = 0.9, 0.999, 1e-7
        m = jax.tree_util.tree_map(lambda m_, g_: b1 * m_ + (1 - b1) * g_, m, g)
        v = jax.tree_util.tree_map(lambda v_, g_: b2 * v_ + (1 - b2) * g_ * g_, v, g)
        corrected = lr * jnp.sqrt(1 - b2 ** step) / (1 - b1 ** step)  # Keras's Adam
        p = jax.tree_util.tree_map(lambda p_, m_, v_: p_ - corrected * m_ / (jnp.sqrt(v_) + eps), p, m, v)
        return (p, s, m, v, step), (loss, correct)

    train = jax.jit(train_step, donate_argnums=0)
    predict = jax.jit(lambda p, s, x: apply(p, s, x, False, jax.random.PRNGKey(0))[0].argmax(-1))

    @jax.jit
    def evaluate_batch(p, s, x, y):
        logits = apply(p, s, x, False, jax.random.PRNGKey(0))[0]
        return cross_entropy(logits, y) * len(y), jnp.sum(logits.argmax(-1) == y)

    def evaluate(state, x, y):
        """fit()'s validation pass: mean loss and accuracy in batches of the training batch size."""
        sums = [evaluate_batch(state[0], state[1], x[i:i + args.batch_size], y[i:i + args.batch_size])
                for i in range(0, len(x), args.batch_size)]
        return sum(float(l) for l, _ in sums) / len(x), sum(int(c) for _, c in sums) / len(x)

    def accuracy(state, x, y):
        correct = 0
        for i in range(0, len(x), 256):
            correct += int((np.asarray(predict(state[0], state[1], x[i:i + 256])) == y[i:i + 256]).sum())
        return correct / len(x)

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = (params, stats, zeros, jax.tree_util.tree_map(jnp.zeros_like, params), jnp.zeros((), jnp.int32))

    start = time.perf_counter()
    warm = jax.tree_util.tree_map(jnp.copy, state)
    last = len(x_train) - (steps - 1) * args.batch_size
    for size in sorted({args.batch_size, last}):
        warm, _ = train(warm, x_train[:size], y_train[:size], jax.random.PRNGKey(0))
    for x, y in ((x_val, y_val), (x_test, y_test)):
        accuracy(warm, x, y)
    evaluate(warm, x_val, y_val)
    del warm
    print(f"compiled in {time.perf_counter() - start:.1f} s (not timed)", flush=True)

    order_rng = np.random.default_rng(42)
    key = jax.random.PRNGKey(1337)
    epoch_seconds, train_seconds = [], []
    for epoch in range(args.epochs):
        start = time.perf_counter()
        order = order_rng.permutation(len(x_train))
        results = []
        for step in range(steps):
            idx = order[step * args.batch_size:(step + 1) * args.batch_size]
            key, sub = jax.random.split(key)
            state, result = train(state, x_train[idx], y_train[idx], sub)
            results.append((result, len(idx)))
        total_loss = sum(float(l) * n for (l, _), n in results)  # waits for the last step
        correct = sum(int(c) for (_, c), _ in results)
        train_seconds.append(time.perf_counter() - start)
        val_loss, val_accuracy = evaluate(state, x_val, y_val)
        seconds = time.perf_counter() - start
        epoch_seconds.append(seconds)
        print(f"epoch {epoch + 1}/{args.epochs}: {seconds:.1f} s ({train_seconds[-1]:.1f} s training), "
              f"loss {total_loss / len(x_train):.4f}, accuracy {correct / len(x_train):.4f}, val_loss {val_loss:.4f}, "
              f"val_accuracy {val_accuracy:.4f}", flush=True)
    print(f"model: {args.model}, threads: {cpus}, jax {jax.__version__}, jax.jit")
    # The fit()-equivalent epoch (training and validation), which fashion_bench.py compares; the
    # training batches alone are the figure recorded before 2026-12-08.
    print(f"seconds_per_epoch: {sum(epoch_seconds) / len(epoch_seconds):.2f} (min {min(epoch_seconds):.2f}; "
          f"training batches alone {sum(train_seconds) / len(train_seconds):.2f})")
    print(f"test_accuracy: {accuracy(state, x_test, y_test):.4f}")


if __name__ == "__main__":
    main()

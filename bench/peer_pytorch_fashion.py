#!/usr/bin/python3
"""The PyTorch peer of examples/fashion_mnist_attention.cpp, examples/mlp_fashion_mnist.cpp and
examples/cnn_fashion_mnist.cpp (PyTorch 1.13 under /usr/bin/python3, or 2.x in build/peers/torch2).

Same architectures, initialisers (Keras's glorot-uniform kernels, zero biases), optimizer
(Adam, Keras's epsilon 1e-7), learning-rate schedule, batch size, validation split (the last
10% of the training set) and thread count. Prints seconds per epoch and test accuracy.
An epoch does what an epoch of the examples' Keras-style fit() does, and its time covers all of
it: the shuffled training batches with the running loss and accuracy, then the loss and accuracy
on the validation split in batches of the training batch size (Keras's validation_batch_size
default). Before 2026-12-08 the timed epoch left out the validation pass and the accuracy, which
the minidl examples' epochs include (bench/RESULTS.md, "Fashion-MNIST MLP epoch through fit").
--compile trains `torch.compile(model)` (inductor, CPU; PyTorch 2.x): before the first epoch it
compiles for every batch shape the run meets (a full batch, the epoch's last partial batch, the
evaluation batches) by running them once, then restores the initial weights and optimizer state,
so the epochs time the compiled code and train the same model as eager.

  /usr/bin/python3 bench/peer_pytorch_fashion.py --model attention --epochs 10 --threads 2
  /usr/bin/python3 bench/peer_pytorch_fashion.py --model mlp --epochs 10 --threads 2
  build/peers/torch2/bin/python bench/peer_pytorch_fashion.py --model cnn --epochs 12 --threads 2
  build/peers/torch2/bin/python bench/peer_pytorch_fashion.py --model mlp --epochs 3 --compile
"""
import argparse
import copy
import math
import time

import torch
from torch import nn

from fashion_data import DATA_DIR, load  # bench/fashion_data.py, next to this script


def dense(n_in, n_out):
    layer = nn.Linear(n_in, n_out)
    nn.init.xavier_uniform_(layer.weight)  # Keras's glorot_uniform
    nn.init.zeros_(layer.bias)
    return layer


class AdditiveAttention(nn.Module):
    """keras.layers.AdditiveAttention(use_scale=True) on [query, value] (key = value)."""

    def __init__(self, dim):
        super().__init__()
        limit = math.sqrt(6.0 / (dim + dim))  # glorot_uniform of a (dim,) weight
        self.scale = nn.Parameter(torch.empty(dim).uniform_(-limit, limit))

    def forward(self, query, value):
        scores = (self.scale * torch.tanh(query.unsqueeze(-2) + value.unsqueeze(-3))).sum(-1)
        return torch.softmax(scores, dim=-1) @ value


class AttentionModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.row_projection = dense(28, 128)
        self.row_position = nn.Parameter(torch.randn(28, 128) * 0.02)
        self.attention = AdditiveAttention(128)
        self.norm = nn.LayerNorm(128, eps=1e-3)
        self.token_mlp = dense(128, 128)
        self.logits = dense(128, 10)

    def forward(self, rows):
        h = torch.relu(self.row_projection(rows) + self.row_position)
        h = self.norm(h + self.attention(h, h))
        h = torch.relu(self.token_mlp(h)).mean(dim=1)
        return self.logits(h)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), dense(784, 256), nn.ReLU(), dense(256, 128), nn.ReLU(),
                                 dense(128, 10))

    def forward(self, x):
        return self.net(x)


def conv(n_in, n_out):
    layer = nn.Conv2d(n_in, n_out, 3, padding=1, bias=False)
    nn.init.xavier_uniform_(layer.weight)  # Keras's glorot_uniform (same fans for a 3x3 kernel)
    return layer


class CNN(nn.Module):
    """examples/cnn_fashion_mnist.cpp: two Conv(no bias)-BN-ReLU-MaxPool blocks, Flatten,
    Dropout(0.3), Dense(128, relu), Dropout(0.3), Dense(10). Keras's BatchNormalization
    defaults: momentum 0.99 (PyTorch's momentum = 1 - Keras's), epsilon 1e-3. PyTorch's own
    layout (NCHW) is its fastest; the flattening order differs from Keras's but not the model."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            conv(1, 32), nn.BatchNorm2d(32, eps=1e-3, momentum=0.01), nn.ReLU(), nn.MaxPool2d(2),
            conv(32, 64), nn.BatchNorm2d(64, eps=1e-3, momentum=0.01), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.3), dense(7 * 7 * 64, 128), nn.ReLU(), nn.Dropout(0.3), dense(128, 10))

    def forward(self, x):
        return self.net(x.unsqueeze(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["attention", "mlp", "cnn"], default="attention")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", default=DATA_DIR)
    parser.add_argument("--limit", type=int, default=0,
                        help="train on the first N training images only (a quick run that the model works)")
    parser.add_argument("--compile", action="store_true", help="train torch.compile(model) (PyTorch 2.x)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1337)

    x_train, y_train, x_test, y_test = load(args.data)
    x_train = torch.tensor(x_train, dtype=torch.float32) / 255.0
    x_test = torch.tensor(x_test, dtype=torch.float32) / 255.0
    y_train = torch.tensor(y_train, dtype=torch.int64)
    y_test = torch.tensor(y_test, dtype=torch.int64)
    split = int(math.floor(len(x_train) * 0.9))  # Keras's validation_split=0.1: the last 10%
    x_val, y_val = x_train[split:], y_train[split:]
    x_train, y_train = x_train[:split], y_train[:split]
    if args.limit > 0:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]

    model = {"attention": AttentionModel, "mlp": MLP, "cnn": CNN}[args.model]()
    network = torch.compile(model) if args.compile else model  # shares model's parameters
    steps = (len(x_train) + args.batch_size - 1) // args.batch_size
    if args.model in ("attention", "cnn"):
        optimizer = torch.optim.Adam(model.parameters(), lr=2e-3, eps=1e-7)
        total = max(1, args.epochs * steps)
        alpha = 0.05 if args.model == "attention" else 0.02
        # Keras's CosineDecay(2e-3, total, alpha), stepped every batch.
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: (1 - alpha) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)) + alpha)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
        schedule = None
    loss_fn = nn.CrossEntropyLoss()

    def train_step(x, y):
        optimizer.zero_grad(set_to_none=True)
        logits = network(x)
        loss = loss_fn(logits, y)
        loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
        return loss, logits.detach()

    def evaluate(x, y):
        """fit()'s validation pass: mean loss and accuracy in batches of the training batch size."""
        model.eval()
        total_loss, correct = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(x), args.batch_size):
                logits = network(x[i:i + args.batch_size])
                total_loss += loss_fn(logits, y[i:i + args.batch_size]).item() * len(logits)
                correct += (logits.argmax(-1) == y[i:i + args.batch_size]).sum().item()
        model.train()
        return total_loss / len(x), correct / len(x)

    def accuracy(x, y):
        model.eval()
        with torch.no_grad():
            correct = sum((network(x[i:i + 256]).argmax(-1) == y[i:i + 256]).sum().item() for i in range(0, len(x), 256))
        model.train()
        return correct / len(x)

    if args.compile:
        start = time.perf_counter()
        saved = copy.deepcopy((model.state_dict(), optimizer.state_dict(),
                               schedule.state_dict() if schedule is not None else None))
        last = len(x_train) - (steps - 1) * args.batch_size
        for size in sorted({args.batch_size, last}):
            train_step(x_train[:size], y_train[:size])
        for x, y in ((x_val, y_val), (x_test, y_test)):
            accuracy(x, y)
        evaluate(x_val, y_val)
        model.load_state_dict(saved[0])
        optimizer.load_state_dict(saved[1])
        if schedule is not None:
            schedule.load_state_dict(saved[2])
        print(f"compiled in {time.perf_counter() - start:.1f} s (not timed)", flush=True)

    generator = torch.Generator().manual_seed(42)
    epoch_seconds, train_seconds = [], []
    for epoch in range(args.epochs):
        start = time.perf_counter()
        order = torch.randperm(len(x_train), generator=generator)
        total_loss, correct = 0.0, 0
        for step in range(steps):
            idx = order[step * args.batch_size:(step + 1) * args.batch_size]
            y = y_train[idx]
            loss, logits = train_step(x_train[idx], y)
            total_loss += loss.item() * len(idx)
            correct += (logits.argmax(-1) == y).sum().item()
        train_seconds.append(time.perf_counter() - start)
        val_loss, val_accuracy = evaluate(x_val, y_val)
        seconds = time.perf_counter() - start
        epoch_seconds.append(seconds)
        print(f"epoch {epoch + 1}/{args.epochs}: {seconds:.1f} s ({train_seconds[-1]:.1f} s training), "
              f"loss {total_loss / len(x_train):.4f}, accuracy {correct / len(x_train):.4f}, val_loss {val_loss:.4f}, "
              f"val_accuracy {val_accuracy:.4f}", flush=True)
    print(f"model: {args.model}, threads: {args.threads}, torch {torch.__version__}"
          f"{', torch.compile' if args.compile else ', eager'}")
    # The fit()-equivalent epoch (training and validation), which fashion_bench.py compares; the
    # training batches alone are the figure recorded before 2026-12-08.
    print(f"seconds_per_epoch: {sum(epoch_seconds) / len(epoch_seconds):.2f} (min {min(epoch_seconds):.2f}; "
          f"training batches alone {sum(train_seconds) / len(train_seconds):.2f})")
    print(f"test_accuracy: {accuracy(x_test, y_test):.4f}")


if __name__ == "__main__":
    main()

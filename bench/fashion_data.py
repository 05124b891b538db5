"""Fashion-MNIST for the Python peers (bench/peer_*_fashion.py): the IDX files that
scripts/setup.sh installs, as NumPy arrays. NumPy only, so every peer environment can import it."""
import gzip
import os
import struct

import numpy as np

DATA_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(count, rows, cols)
    return np.frombuffer(data, np.uint8, offset=8)


def load(data_dir=DATA_DIR):
    """(x_train, y_train, x_test, y_test) as uint8 arrays: images (n, 28, 28), labels (n,)."""

    def part(name):
        return read_idx(os.path.join(data_dir, name))

    return (part("train-images-idx3-ubyte.gz"), part("train-labels-idx1-ubyte.gz"),
            part("t10k-images-idx3-ubyte.gz"), part("t10k-labels-idx1-ubyte.gz"))

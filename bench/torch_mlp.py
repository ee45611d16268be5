#!/usr/bin/python3
"""PyTorch reference for bench/mlp_train.c: samples per second for one epoch
of an MLP (784-128-10 and 784-256-128-10), batch 64, plain SGD (lr 0.05),
softmax cross-entropy, with torch.set_num_threads(1) and (2).

Same data as the C benchmark: Fashion-MNIST from --data (x = pixel / 255)
when its gzip'd IDX files are there, else 60000 synthetic rows (numpy seed
42, uniform in [0, 1), random labels; throughput does not depend on values).

Run it with Debian's /usr/bin/python3 (python3-torch). PyTorch does its
matrix products through libblas.so.3; for a fair reference point
LD_LIBRARY_PATH at OpenBLAS's OpenMP build (bench/mlp_vs_torch.sh does).
Prints one line per configuration in the C benchmark's format."""
import argparse
import gzip
import os
import statistics
import time

import numpy as np
import torch

N_FEATURES, N_CLASSES, BATCH, LR = 784, 10, 64, 0.05
ARCHS = {"784-128-10": [128, 10], "784-256-128-10": [256, 128, 10]}


def read_idx(path, header_len):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read()[header_len:], dtype=np.uint8)


def load(data_dir, prefix):
    images = os.path.join(data_dir, prefix + "-images-idx3-ubyte.gz")
    labels = os.path.join(data_dir, prefix + "-labels-idx1-ubyte.gz")
    x = read_idx(images, 16).reshape(-1, N_FEATURES).astype(np.float32) / 255.0
    y = read_idx(labels, 8).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def make_model(sizes):
    layers, n_in = [], N_FEATURES
    for i, n_out in enumerate(sizes):
        layers.append(torch.nn.Linear(n_in, n_out))
        if i + 1 < len(sizes):
            layers.append(torch.nn.ReLU())
        n_in = n_out
    return torch.nn.Sequential(*layers)


def train_epoch(model, opt, loss_fn, x, y, generator):
    order = torch.randperm(x.shape[0], generator=generator)
    for start in range(0, x.shape[0], BATCH):
        idx = order[start:start + BATCH]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def bench(label, sizes, threads, epochs, train, test):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = make_model(sizes)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)
    rates = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        train_epoch(model, opt, loss_fn, *train, generator)
        rates.append(train[0].shape[0] / (time.perf_counter() - t0))
    acc = accuracy(model, *test) if test else float("nan")
    print(f"mlp {label} threads={threads} batch={BATCH} "
          f"samples_per_s={statistics.median(rates):.0f} accuracy={acc:.4f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    a = ap.parse_args()
    try:
        train, test = load(a.data, "train"), load(a.data, "t10k")
        source = a.data
    except OSError:
        rng = np.random.default_rng(42)
        train = (torch.from_numpy(rng.random((60000, N_FEATURES), dtype=np.float32)),
                 torch.from_numpy(rng.integers(0, N_CLASSES, 60000)))
        test, source = None, "synthetic (seed 42)"
    print(f"# data: {source}, {a.epochs} epochs per configuration, median reported, "
          f"torch {torch.__version__}")
    for threads in (int(t) for t in a.threads.split(",")):
        for label, sizes in ARCHS.items():
            bench(label, sizes, threads, a.epochs, train, test)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""PyTorch reference for bench/cnn_train.c: samples per second for one epoch
of NIID-Bench's simple CNN (conv 6@5x5, maxpool 2, conv 16@5x5, maxpool 2,
fc 120, fc 84, fc 10, ReLU; "cnn-bn" with BatchNorm2d after each conv) on
28x28 images, batch 64, plain SGD (lr 0.05), softmax cross-entropy, with
torch.set_num_threads(1) and (2).

Same data as the C benchmark: Fashion-MNIST from --data (x = pixel / 255)
when its gzip'd IDX files are there, else 60000 synthetic images (numpy
seed 42, uniform in [0, 1), random labels).

Run it with Debian's /usr/bin/python3 (python3-torch), LD_LIBRARY_PATH at
OpenBLAS's OpenMP build (bench/cnn_vs_torch.sh does). Prints one line per
configuration in the C benchmark's format."""
import argparse
import gzip
import os
import statistics
import time

import numpy as np
import torch

SIDE, N_CLASSES, BATCH, LR = 28, 10, 64, 0.05


def read_idx(path, header_len):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read()[header_len:], dtype=np.uint8)


def load(data_dir, prefix):
    images = os.path.join(data_dir, prefix + "-images-idx3-ubyte.gz")
    labels = os.path.join(data_dir, prefix + "-labels-idx1-ubyte.gz")
    x = read_idx(images, 16).reshape(-1, 1, SIDE, SIDE).astype(np.float32) / 255.0
    y = read_idx(labels, 8).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def make_model(bn):
    nn = torch.nn
    layers = []
    for c_in, c_out in ((1, 6), (6, 16)):
        layers.append(nn.Conv2d(c_in, c_out, 5))
        if bn:
            layers.append(nn.BatchNorm2d(c_out))
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
    layers += [nn.Flatten(), nn.Linear(16 * 4 * 4, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
               nn.Linear(84, N_CLASSES)]
    return nn.Sequential(*layers)


def train_epoch(model, opt, loss_fn, x, y, generator):
    model.train()
    order = torch.randperm(x.shape[0], generator=generator)
    for start in range(0, x.shape[0], BATCH):
        idx = order[start:start + BATCH]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def bench(label, threads, epochs, train, test):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = make_model(label == "cnn-bn")
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)
    rates = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        train_epoch(model, opt, loss_fn, *train, generator)
        rates.append(train[0].shape[0] / (time.perf_counter() - t0))
    acc = accuracy(model, *test) if test else float("nan")
    print(f"cnn {label} threads={threads} batch={BATCH} "
          f"samples_per_s={statistics.median(rates):.0f} accuracy={acc:.4f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--models", default="cnn,cnn-bn")
    a = ap.parse_args()
    try:
        train, test = load(a.data, "train"), load(a.data, "t10k")
        source = a.data
    except OSError:
        rng = np.random.default_rng(42)
        train = (torch.from_numpy(rng.random((60000, 1, SIDE, SIDE), dtype=np.float32)),
                 torch.from_numpy(rng.integers(0, N_CLASSES, 60000)))
        test, source = None, "synthetic (seed 42)"
    print(f"# data: {source}, {a.epochs} epochs per configuration, median reported, "
          f"torch {torch.__version__}, mkldnn {torch.backends.mkldnn.is_available()}")
    for threads in (int(t) for t in a.threads.split(",")):
        for label in a.models.split(","):
            bench(label, threads, a.epochs, train, test)


if __name__ == "__main__":
    main()

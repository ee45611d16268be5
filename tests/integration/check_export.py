#!/usr/bin/env python3
"""Checks an export of fedc-researcher against the parameter file it came from.

usage: check_export.py EXPECTED.json EXPECTED.bin FILE.npz FILE.safetensors

EXPECTED.json lists the tensors as the C test read them from the parameter
file (fedc_params_open): [{"name", "dtype": "f32"|"u32"|"u64", "shape",
"offset", "nbytes"}] into EXPECTED.bin, their raw little-endian bytes. The
npz is loaded with NumPy (np.load), the safetensors file with PyTorch
(torch.frombuffer over the data the header points to; torch 1.13 has no
safetensors module) and with NumPy; every value must be the same bits.
Prints one line per failure and exits 1, or "ok N tensors" and exits 0."""
import json
import struct
import sys

import numpy as np
import torch

NUMPY = {"f32": "<f4", "u32": "<u4", "u64": "<u8"}
SAFETENSORS = {"f32": "F32", "u32": "U32", "u64": "U64"}
TORCH = {"f32": torch.float32, "u64": torch.int64}  # torch 1.13 has no uint32/uint64: int64 holds u64's bits


def main(expected_json, expected_bin, npz_path, st_path):
    tensors = json.load(open(expected_json))
    raw = open(expected_bin, "rb").read()
    errors = []

    def want(t):
        return raw[t["offset"]:t["offset"] + t["nbytes"]]

    npz = np.load(npz_path)
    if sorted(npz.files) != sorted(t["name"] for t in tensors):
        errors.append(f"npz holds {sorted(npz.files)}")
    for t in tensors:
        if t["name"] not in npz.files:
            continue
        a = npz[t["name"]]
        if a.dtype != np.dtype(NUMPY[t["dtype"]]) or list(a.shape) != t["shape"]:
            errors.append(f"npz {t['name']}: {a.dtype} {a.shape}, expected {t['dtype']} {t['shape']}")
        elif a.tobytes() != want(t):
            errors.append(f"npz {t['name']}: values differ")

    blob = open(st_path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    header.pop("__metadata__", None)
    if sorted(header) != sorted(t["name"] for t in tensors):
        errors.append(f"safetensors holds {sorted(header)}")
    end = 0
    for t in tensors:
        h = header.get(t["name"])
        if h is None:
            continue
        begin, stop = h["data_offsets"]
        if h["dtype"] != SAFETENSORS[t["dtype"]] or h["shape"] != t["shape"] or begin != end:
            errors.append(f"safetensors {t['name']}: {h}")
            continue
        end = stop
        chunk = data[begin:stop]
        if np.frombuffer(chunk, dtype=NUMPY[t["dtype"]]).reshape(t["shape"]).tobytes() != want(t):
            errors.append(f"safetensors {t['name']}: values differ (NumPy)")
        if t["dtype"] in TORCH and len(chunk) > 0:
            x = torch.frombuffer(bytearray(chunk), dtype=TORCH[t["dtype"]]).reshape(t["shape"])
            if x.numpy().tobytes() != want(t):
                errors.append(f"safetensors {t['name']}: values differ (PyTorch)")
    if end != len(data):
        errors.append(f"safetensors: {len(data)} data bytes, the offsets cover {end}")
    for e in errors:
        print(e)
    if not errors:
        print(f"ok {len(tensors)} tensors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

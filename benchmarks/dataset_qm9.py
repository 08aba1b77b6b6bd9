"""Full QM9 from the qm9pack CSV files: conversion time to zoo HDF5 and random-access reads/s of the result.

    pip install qm9pack      # once (about 100 MB; the CSVs hold the 130,831 characterized molecules)
    python benchmarks/dataset_qm9.py [--root DIR] [--reads 5000]

Without --root the converted file lives in a temporary folder and is deleted at the end.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from zoo.data import create_splits, make_loader
from zoo.datasets import QM9
from zoo.datasets.qm9 import qm9pack_folder


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--reads", type=int, default=5000)
    args = parser.parse_args()
    if qm9pack_folder() is None:
        print("qm9pack is not installed: run `pip install qm9pack` and try again.")
        return
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or Path(tmp)
        qm9 = QM9(root, source="qm9pack", download=False, progress=False)
        existed = qm9.processed_path.exists()
        t0 = time.perf_counter()
        ds = qm9.prepare()
        t_convert = time.perf_counter() - t0
        size = qm9.processed_path.stat().st_size / 2**20
        what = "reused existing file" if existed else "converted from qm9pack"
        n_props = len(ds.available_properties)
        print(f"QM9: {len(ds)} molecules, {int(ds.n_atoms.sum())} atoms, {n_props} properties, "
              f"{size:.0f} MiB; {what} in {t_convert:.1f} s")  # fmt: skip

        rng = np.random.default_rng(0)
        idx = rng.integers(0, len(ds), args.reads)
        ds[0]
        t0 = time.perf_counter()
        for i in idx:
            ds[int(i)]
        dt = time.perf_counter() - t0
        print(f"random access ds[i] (all 16 properties, torch tensors): {args.reads / dt:,.0f} reads/s")

        split = create_splits(len(ds), 110_000, 10_000, seed=0)
        t0 = time.perf_counter()
        loader = make_loader(ds, split.train, batch_size=100, shuffle=True, seed=0, properties=[QM9.U0])
        t_setup = time.perf_counter() - t0
        t0 = time.perf_counter()
        n = sum(int(b["n_atoms"].shape[0]) for b in loader)
        dt = time.perf_counter() - t0
        print(f"make_loader (in memory, U0, batch 100): setup {t_setup:.2f} s, one epoch of {n} molecules "
              f"{dt:.2f} s = {n / dt:,.0f} molecules/s")  # fmt: skip
        ds.close()


if __name__ == "__main__":
    main()

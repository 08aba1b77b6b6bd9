"""Data-loading throughput: batches/s and molecules/s for batch size 100 over the malonaldehyde data.

    python benchmarks/dataset_loader.py [--file PATH] [--batch-size 100] [--epochs 3]

By default the whole 25,000-configuration xtb_malonaldehyde.npz from shared/data is imported once to a
temporary zoo HDF5 file (the 1k sample is used when shared/data is missing). Prints one table row per
loader mode: in-memory (vectorised batch assembly) and lazy (per-structure HDF5 reads + collate).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from zoo.data import AtomsDataset, create_splits, make_loader, sample_path
from zoo.data.io import import_file

ROOT = Path(__file__).resolve().parents[1]
from common import SHARED  # noqa: E402


def _dataset(path: Path | None, tmp: Path) -> AtomsDataset:
    if path is not None:
        return AtomsDataset(path)
    src = SHARED / "md" / "xtb_malonaldehyde.npz"
    if src.exists():
        t0 = time.perf_counter()
        ds = import_file("md17", src, tmp / "malonaldehyde.h5")
        print(f"imported {src.name}: {len(ds)} structures in {time.perf_counter() - t0:.2f} s")
        return ds
    return AtomsDataset(sample_path("malonaldehyde"))


def _measure(
    ds: AtomsDataset, idx, batch_size: int, epochs: int, preload: bool
) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    loader = make_loader(ds, idx, batch_size=batch_size, shuffle=True, seed=0, preload=preload)
    setup = time.perf_counter() - t0
    n_batches = n_mol = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        for batch in loader:
            n_batches += 1
            n_mol += int(batch["n_atoms"].shape[0])
    dt = time.perf_counter() - t0
    return setup, n_batches / dt, n_mol / dt


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--file", type=Path, default=None, help="a zoo HDF5 dataset (default: see above)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        ds = _dataset(args.file, Path(tmp))
        split = create_splits(len(ds), int(0.8 * len(ds)), int(0.1 * len(ds)), seed=0)
        print(
            f"dataset {ds.path.name}: {len(ds)} structures, training split {len(split.train)}, "
            f"batch size {args.batch_size}, torch threads 1, num_workers 0"
        )
        print(f"{'mode':<10} {'setup s':>8} {'batches/s':>10} {'molecules/s':>12}")
        for mode, preload, epochs in (("in-memory", True, args.epochs), ("lazy-h5", False, 1)):
            setup, bps, mps = _measure(ds, split.train, args.batch_size, epochs, preload)
            print(f"{mode:<10} {setup:>8.3f} {bps:>10.0f} {mps:>12.0f}")
        ds.close()


if __name__ == "__main__":
    main()

"""Datasets of atomic structures: the zoo HDF5 format, importers, splits, statistics and loaders."""

from __future__ import annotations

from pathlib import Path

from zoo.data import keys
from zoo.data.dataset import AtomsDataset
from zoo.data.io import import_file
from zoo.data.loader import InMemorySplit, LazySplit, collate, make_loader, set_epoch
from zoo.data.splits import Splits, create_splits, load_splits, split_hash
from zoo.data.stats import fit_atomrefs, per_atom_stats
from zoo.errors import DataError

_SAMPLES = {"malonaldehyde": "malonaldehyde_1k.h5"}


def sample_path(name: str) -> Path:
    """Path of a dataset shipped with zoo (``"malonaldehyde"``: 1,000 GFN2-xTB MD configurations)."""
    if name not in _SAMPLES:
        raise DataError(f"Unknown sample dataset {name!r}; available: {', '.join(sorted(_SAMPLES))}.")
    path = Path(__file__).resolve().parent.parent / "samples" / _SAMPLES[name]
    if not path.exists():
        raise DataError(f"The sample {path} is missing; run scripts/make_sample.py to build it.")
    return path


__all__ = [
    "AtomsDataset",
    "DataError",
    "InMemorySplit",
    "LazySplit",
    "Splits",
    "collate",
    "create_splits",
    "fit_atomrefs",
    "import_file",
    "keys",
    "load_splits",
    "make_loader",
    "per_atom_stats",
    "sample_path",
    "set_epoch",
    "split_hash",
]

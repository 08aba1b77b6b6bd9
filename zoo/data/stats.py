"""Statistics of the training data: per-element atom references and per-atom mean/std."""

from __future__ import annotations

import numpy as np

from zoo.data.dataset import AtomsDataset, atom_rows
from zoo.errors import DataError

MAX_Z = 119


def composition(dataset: AtomsDataset, indices: np.ndarray | None = None) -> np.ndarray:
    """(n, 119) matrix: how many atoms of each atomic number every structure has."""
    offsets = dataset.offsets
    idx = np.arange(len(dataset), dtype=np.int64) if indices is None else np.asarray(indices, dtype=np.int64)
    z_all = dataset.atomic_numbers()
    rows = atom_rows(offsets, idx)
    counts = offsets[idx + 1] - offsets[idx]
    struct = np.repeat(np.arange(idx.shape[0]), counts)
    comp = np.zeros((idx.shape[0], MAX_Z), dtype=np.float64)
    np.add.at(comp, (struct, z_all[rows]), 1.0)
    return comp


def _extensive(dataset: AtomsDataset, prop: str, indices: np.ndarray | None) -> np.ndarray:
    if dataset.is_per_atom(prop):
        raise DataError(f"{dataset.path}: '{prop}' is per-atom, statistics need a per-structure property.")
    values = dataset.get_property(prop, indices)
    if values.ndim != 1:
        raise DataError(f"{dataset.path}: '{prop}' is not a scalar per structure (shape {values.shape[1:]}).")
    return values.astype(np.float64)


def fit_atomrefs(
    dataset: AtomsDataset,
    prop: str = "energy",
    indices: np.ndarray | None = None,
    comp: np.ndarray | None = None,
) -> np.ndarray:
    """Least-squares per-element references e_Z with property ≈ Σ_Z n_Z e_Z over the given structures.

    Returns an array of length 119 indexed by atomic number (zero for absent elements). When the
    compositions do not determine every e_Z (e.g. one molecule in MD17) the minimum-norm solution is used.
    ``comp``: ``composition(dataset, indices)`` when the caller already has it.
    """
    y = _extensive(dataset, prop, indices)
    comp = composition(dataset, indices) if comp is None else comp
    present = np.flatnonzero(comp.sum(axis=0) > 0)
    coef, *_ = np.linalg.lstsq(comp[:, present], y, rcond=None)
    refs = np.zeros(MAX_Z, dtype=np.float64)
    refs[present] = coef
    return refs


def per_atom_stats(
    dataset: AtomsDataset,
    prop: str = "energy",
    indices: np.ndarray | None = None,
    atomrefs: np.ndarray | None = None,
    comp: np.ndarray | None = None,
) -> tuple[float, float]:
    """Mean and standard deviation of (property - Σ atom references) / n_atoms over the given structures
    (``comp``: their composition matrix when the caller already has it)."""
    y = _extensive(dataset, prop, indices)
    idx = np.arange(len(dataset)) if indices is None else np.asarray(indices, dtype=np.int64)
    if idx.shape[0] == 0:
        raise DataError(f"{dataset.path}: no structures to compute statistics of '{prop}' on.")
    if atomrefs is not None:
        refs = np.zeros(MAX_Z)
        given = np.asarray(atomrefs, dtype=np.float64).reshape(-1)[:MAX_Z]
        refs[: given.shape[0]] = given
        y = y - (composition(dataset, idx) if comp is None else comp) @ refs
    per_atom = y / dataset.n_atoms[idx]
    return float(per_atom.mean()), float(per_atom.std())

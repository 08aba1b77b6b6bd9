"""`AtomsDataset`: many structures with properties in ONE HDF5 file, read by random access.

Layout (format ``zoo-atoms`` version 1)::

    /Z        (sum atoms,)   uint8   atomic numbers of all structures, concatenated
    /R        (sum atoms, 3) float64 positions in Å
    /cell     (n, 3, 3)      float64 cell vectors as rows in Å (zeros when not periodic)
    /pbc      (n, 3)         bool
    /offsets  (n + 1,)       int64   atoms of structure i are rows offsets[i]:offsets[i+1]
    /properties/<name>       (n, ...) per structure, or (sum atoms, ...) with attribute per_atom=True;
                             attribute ``units`` ("eV", "eV/Ang", "e*Ang", "eV/Ang^3", ...)

File attributes: ``format``, ``format_version``, ``source``, ``created`` (UTC ISO 8601) and any
further provenance given to `AtomsDataset.create`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from zoo.data import keys
from zoo.data.writer import FORMAT_NAME, FORMAT_VERSION, write_dataset
from zoo.errors import DataError

__all__ = ["AtomsDataset", "FORMAT_NAME", "FORMAT_VERSION"]

_NAN_CHECK_ROWS = 1 << 20
SMALL_CACHE_BYTES = 256 << 20


class AtomsDataset:
    """Read-only random access to a zoo HDF5 dataset.

    ``ds[i]`` returns a dict with ``Z`` (n,) int64, ``R`` (n,3), ``cell`` (3,3), ``pbc`` (3,) bool,
    ``n_atoms`` () int64 and every property, as torch tensors (``as_numpy=True`` for numpy).
    The HDF5 file is opened lazily per process, so the object can be sent to DataLoader workers.
    """

    def __init__(self, path: str | os.PathLike[str], as_numpy: bool = False) -> None:
        self.path = Path(path)
        self.as_numpy = as_numpy
        self._file: h5py.File | None = None
        self._elements: list[int] | None = None
        self._pid = -1
        self._validate()

    # ------------------------------------------------------------------ opening and checking
    def _open(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file = _open_h5(self.path)
            self._pid = os.getpid()
            self._dsets: dict[str, h5py.Dataset] = {}
        return self._file

    def _dset(self, name: str) -> h5py.Dataset:
        """Cached h5py dataset handle (looking a name up in HDF5 costs more than a small read)."""
        f = self._open()
        d = self._dsets.get(name)
        if d is None:
            d = self._dsets[name] = f[name]
        return d

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def __enter__(self) -> AtomsDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = -1
        state.pop("_dsets", None)
        state.pop("_small", None)
        return state

    def _validate(self) -> None:
        f = self._open()
        name = self.path
        for key in ("Z", "R", "cell", "pbc", "offsets"):
            if key not in f:
                raise DataError(f"{name} is not a zoo dataset: the array '/{key}' is missing.")
        fmt = f.attrs.get("format_version", None)
        if fmt is not None and int(fmt) > FORMAT_VERSION:
            raise DataError(f"{name} has format version {int(fmt)}, newer than this zoo ({FORMAT_VERSION}).")
        offsets = np.asarray(f["offsets"][:], dtype=np.int64)
        n = offsets.shape[0] - 1
        if n <= 0:
            raise DataError(f"{name} is an empty dataset (it holds no structures).")
        n_total = f["Z"].shape[0]
        if offsets[0] != 0 or offsets[-1] != n_total or np.any(np.diff(offsets) <= 0):
            raise DataError(f"{name} has inconsistent offsets: they do not partition its {n_total} atoms.")
        _expect_shape(name, "R", f["R"].shape, (n_total, 3))
        _expect_shape(name, "cell", f["cell"].shape, (n, 3, 3))
        _expect_shape(name, "pbc", f["pbc"].shape, (n, 3))
        props = f.get("properties")
        self._props: dict[str, tuple[bool, str]] = {}
        if props is not None:
            for pname, dset in props.items():
                per_atom = bool(dset.attrs.get("per_atom", False))
                rows = n_total if per_atom else n
                if dset.ndim == 0 or dset.shape[0] != rows:
                    what = f"{n_total} atoms" if per_atom else f"{n} structures"
                    raise DataError(
                        f"{name}: property '{pname}' has shape {dset.shape}, which does not match {what}."
                    )
                self._props[pname] = (per_atom, str(dset.attrs.get("units", "")))
        self._check_finite(f["R"], "R")
        self._offsets = offsets
        self._n_atoms = np.diff(offsets)

    def _check_finite(self, dset: h5py.Dataset, what: str) -> None:
        for start in range(0, dset.shape[0], _NAN_CHECK_ROWS):
            block = dset[start : start + _NAN_CHECK_ROWS]
            if not np.all(np.isfinite(block)):
                bad = start + int(np.argwhere(~np.isfinite(block))[0, 0])
                raise DataError(f"{self.path} has a NaN or infinite value in '{what}' (atom row {bad}).")

    # ------------------------------------------------------------------ metadata
    def __len__(self) -> int:
        return int(self._offsets.shape[0] - 1)

    @property
    def offsets(self) -> np.ndarray:
        """(n+1,) int64: atoms of structure i are rows offsets[i]:offsets[i+1] of the flat arrays."""
        return self._offsets

    @property
    def n_atoms(self) -> np.ndarray:
        """(n,) int64 number of atoms per structure."""
        return self._n_atoms

    @property
    def available_properties(self) -> list[str]:
        return sorted(self._props)

    @property
    def units(self) -> dict[str, str]:
        return {k: v[1] for k, v in sorted(self._props.items())}

    def is_per_atom(self, name: str) -> bool:
        self._require(name)
        return self._props[name][0]

    @property
    def elements(self) -> list[int]:
        """Sorted unique atomic numbers present in the dataset."""
        if self._elements is not None:
            return list(self._elements)
        z = self._open()["Z"]
        seen = np.zeros(256, dtype=bool)
        for start in range(0, z.shape[0], _NAN_CHECK_ROWS):
            seen[np.asarray(z[start : start + _NAN_CHECK_ROWS], dtype=np.int64)] = True
        self._elements = [int(i) for i in np.flatnonzero(seen)]
        return list(self._elements)

    def atomic_numbers(self) -> np.ndarray:
        """Flat (sum atoms,) int64 atomic numbers of all structures."""
        return np.asarray(self._open()["Z"][:], dtype=np.int64)

    @property
    def attrs(self) -> dict[str, Any]:
        """File attributes (format version and provenance)."""
        return {k: _plain(v) for k, v in self._open().attrs.items()}

    def _require(self, name: str) -> None:
        if name not in self._props:
            have = ", ".join(self.available_properties) or "none"
            raise DataError(f"{self.path} has no property '{name}' (available: {have}).")

    # ------------------------------------------------------------------ access
    def __getitem__(self, idx: int) -> dict[str, Any]:
        n = len(self)
        i = int(idx)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {idx} is out of range for {self.path} with {n} structures")
        a, b = int(self._offsets[i]), int(self._offsets[i + 1])
        d = self._dset
        small = self._small_columns()
        out: dict[str, Any] = {keys.Z: d("Z")[a:b].astype(np.int64), keys.R: d("R")[a:b]}
        for name in (keys.cell, keys.pbc):
            out[name] = small[name][i].copy() if name in small else d(name)[i]
        out[keys.n_atoms] = np.int64(b - a)
        for pname, (per_atom, _) in self._props.items():
            if per_atom:
                out[pname] = d(f"properties/{pname}")[a:b]
            elif f"properties/{pname}" in small:
                out[pname] = small[f"properties/{pname}"][i].copy()
            else:
                out[pname] = d(f"properties/{pname}")[i]
        if self.as_numpy:
            return out
        return {k: torch.as_tensor(np.asarray(v)) for k, v in out.items()}

    def _small_columns(self) -> dict[str, np.ndarray]:
        """Per-structure columns (cell, pbc, per-structure properties) kept in memory once read, as long as
        they stay under SMALL_CACHE_BYTES: one HDF5 read per column and item costs more than the data."""
        cache = getattr(self, "_small", None)
        if cache is None or getattr(self, "_small_pid", -1) != os.getpid():
            cache = {}
            budget = SMALL_CACHE_BYTES
            per_structure = [f"properties/{p}" for p, (per_atom, _) in self._props.items() if not per_atom]
            names = [keys.pbc, keys.cell, *per_structure]
            for name in names:
                dset = self._dset(name)
                nbytes = dset.size * dset.dtype.itemsize
                if nbytes > budget:
                    continue
                budget -= nbytes
                cache[name] = dset[()]
            self._small, self._small_pid = cache, os.getpid()
        return cache

    def get_property(self, name: str, indices: np.ndarray | None = None) -> np.ndarray:
        """Whole property column (per-structure rows or per-atom rows), optionally of some structures."""
        self._require(name)
        data = self._open()["properties"][name][:]
        if indices is None:
            return data
        idx = np.asarray(indices, dtype=np.int64)
        if self._props[name][0]:
            return data[atom_rows(self._offsets, idx)]
        return data[idx]

    def read_arrays(self, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Load everything (or the given properties) into memory as flat numpy arrays."""
        f = self._open()
        wanted = self.available_properties if names is None else list(names)
        for name in wanted:
            self._require(name)
        out = {
            keys.Z: np.asarray(f["Z"][:], dtype=np.int64),
            keys.R: f["R"][:],
            keys.cell: f["cell"][:],
            keys.pbc: f["pbc"][:],
            "offsets": self._offsets.copy(),
        }
        for name in wanted:
            out[name] = f["properties"][name][:]
        return out

    def to_atoms(self, idx: int) -> Any:
        """Structure ``idx`` as an `ase.Atoms` (without properties)."""
        from ase import Atoms

        s = self[idx] if self.as_numpy else {k: v.numpy() for k, v in self[idx].items()}
        return Atoms(numbers=s[keys.Z], positions=s[keys.R], cell=s[keys.cell], pbc=s[keys.pbc])

    def __repr__(self) -> str:
        return f"AtomsDataset({str(self.path)!r}, n={len(self)}, properties={self.available_properties})"

    # ------------------------------------------------------------------ writing
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        structures: Iterable[Mapping[str, Any]] | Mapping[str, Any],
        properties: Mapping[str, str],
        per_atom: Iterable[str] | None = None,
        source: str = "",
        chunk_size: int = 4096,
        compression: str | None = None,
        show_progress: bool = False,
        total: int | None = None,
        **provenance: Any,
    ) -> AtomsDataset:
        """Write a dataset to ``path`` (atomically: a temporary file in the same folder is renamed).

        ``structures`` is either an iterable of dicts with ``Z`` (n,), ``R`` (n,3), optional ``cell``
        (3,3) and ``pbc`` (3,), and one entry per property; or one dict of flat arrays with ``Z``, ``R``,
        ``n_atoms`` (or ``offsets``), optional ``cell``/``pbc`` and property arrays. ``properties``
        maps property name -> unit (values already in zoo units). ``per_atom`` names the properties
        with one row per atom (default: ``forces``). Structures are written in chunks of
        ``chunk_size``, so the input can be larger than memory. Extra keyword arguments are stored
        as provenance attributes.
        """
        write_dataset(
            Path(path),
            structures,
            properties=dict(properties),
            per_atom=set(keys.PER_ATOM_DEFAULT if per_atom is None else per_atom),
            source=source,
            chunk_size=chunk_size,
            compression=compression,
            show_progress=show_progress,
            total=total,
            provenance=provenance,
        )
        return cls(path)


def atom_rows(offsets: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Flat atom row indices of the structures ``idx`` (in that order), without a Python loop."""
    starts = offsets[idx]
    counts = offsets[idx + 1] - starts
    total = int(counts.sum())
    first = np.cumsum(counts) - counts  # position of each structure's first atom in the output
    return np.repeat(starts - first, counts) + np.arange(total, dtype=np.int64)


def _open_h5(path: Path) -> h5py.File:
    if not path.exists():
        raise DataError(f"{path} does not exist.")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a zoo HDF5 dataset file.")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path} is not a readable HDF5 file (corrupt or truncated: {exc}).") from None


def _expect_shape(name: Path, key: str, shape: tuple[int, ...], expected: tuple[int, ...]) -> None:
    if tuple(shape) != expected:
        raise DataError(f"{name}: '/{key}' has shape {tuple(shape)}, expected {expected}.")


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value

"""Streaming writer of zoo HDF5 datasets (see `zoo.data.dataset` for the layout).

Everything is written to a temporary file in the destination folder and renamed at the end, so a
failure (bad input, full disk, Ctrl-C) never leaves a half-written dataset behind.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from zoo.data import keys
from zoo.errors import DataError

FORMAT_NAME = "zoo-atoms"
FORMAT_VERSION = 1


def temporary_path(path: Path) -> Path:
    """A unique temporary name next to ``path`` (same file system, so `os.replace` is atomic)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_dataset(
    path: Path,
    structures: Iterable[Mapping[str, Any]] | Mapping[str, Any],
    properties: dict[str, str],
    per_atom: set[str],
    source: str,
    chunk_size: int,
    compression: str | None,
    show_progress: bool,
    total: int | None,
    provenance: Mapping[str, Any],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        with h5py.File(tmp, "w") as f:
            writer = _Writer(f, path, properties, per_atom, compression)
            if isinstance(structures, Mapping):
                writer.write_block(_block_from_arrays(path, structures, properties, per_atom))
            else:
                blocks = _blocks(path, structures, properties, per_atom, chunk_size, show_progress, total)
                for block in blocks:
                    writer.write_block(block)
            writer.finish()
            f.attrs["format"] = FORMAT_NAME
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["source"] = str(source)
            f.attrs["created"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
            for k, v in provenance.items():
                f.attrs[k] = v if isinstance(v, int | float | np.number | np.ndarray) else str(v)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"Could not write {path}: {exc.strerror or exc}.") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class _Writer:
    def __init__(
        self,
        f: h5py.File,
        path: Path,
        properties: dict[str, str],
        per_atom: set[str],
        compression: str | None,
    ) -> None:
        self.f = f
        self.path = path
        self.properties = properties
        self.per_atom = per_atom
        self.opts: dict[str, Any] = {}
        if compression:
            self.opts = {"compression": compression, "shuffle": True}
        self.n_struct = 0
        self.n_atoms = 0
        self.offsets: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]
        self.dsets: dict[str, h5py.Dataset] = {}

    def _dataset(self, name: str, sample: np.ndarray, per_atom: bool, units: str | None) -> h5py.Dataset:
        if name not in self.dsets:
            tail = sample.shape[1:]
            row_bytes = max(1, int(np.prod(tail)) * sample.dtype.itemsize)
            # ~64 KiB chunks, but never more rows than the first block (small files stay small)
            chunk_rows = max(1, min(sample.shape[0], (64 * 1024) // row_bytes))
            d = self.f.create_dataset(
                name,
                shape=(0, *tail),
                maxshape=(None, *tail),
                dtype=sample.dtype,
                chunks=(chunk_rows, *tail),
                **self.opts,
            )
            if units is not None:
                d.attrs["units"] = units
                d.attrs["per_atom"] = per_atom
            self.dsets[name] = d
        d = self.dsets[name]
        if d.shape[1:] != sample.shape[1:]:
            kind = "per-atom" if per_atom else "per-structure"
            raise DataError(
                f"Cannot write {self.path}: {kind} '{name.split('/')[-1]}' has shape {sample.shape[1:]} "
                f"per row in structure {self.n_struct}, but {d.shape[1:]} before."
            )
        return d

    def _append(self, name: str, arr: np.ndarray, per_atom: bool = False, units: str | None = None) -> None:
        d = self._dataset(name, arr, per_atom, units)
        start = d.shape[0]
        d.resize(start + arr.shape[0], axis=0)
        d[start:] = arr

    def write_block(self, block: dict[str, np.ndarray]) -> None:
        counts = block[keys.n_atoms]
        self._append("Z", block[keys.Z].astype(np.uint8))
        self._append("R", block[keys.R].astype(np.float64))
        self._append("cell", block[keys.cell].astype(np.float64))
        self._append("pbc", block[keys.pbc].astype(bool))
        for name, units in self.properties.items():
            self._append(f"properties/{name}", block[name], name in self.per_atom, units)
        self.offsets.append(self.n_atoms + np.cumsum(counts, dtype=np.int64))
        self.n_struct += int(counts.shape[0])
        self.n_atoms += int(counts.sum())

    def finish(self) -> None:
        if self.n_struct == 0:
            raise DataError(f"Cannot write {self.path}: the input holds no structures (empty dataset).")
        self.f.create_dataset("offsets", data=np.concatenate(self.offsets))
        if "properties" not in self.f:
            self.f.create_group("properties")


def _check_structure(path: Path, i: int, z: np.ndarray, r: np.ndarray) -> None:
    n = z.shape[0] if z.ndim == 1 else -1
    if n <= 0:
        raise DataError(f"Cannot write {path}: structure {i} has atomic numbers of shape {z.shape}.")
    if r.shape != (n, 3):
        raise DataError(f"Cannot write {path}: structure {i} has {n} atoms but positions of shape {r.shape}.")
    if z.min() < 1 or z.max() > 118:
        raise DataError(f"Cannot write {path}: structure {i} has an atomic number outside 1..118.")
    if not np.all(np.isfinite(r)):
        raise DataError(f"Cannot write {path}: structure {i} has NaN or infinite coordinates.")


def _prop(path: Path, i: int, s: Mapping[str, Any], name: str) -> np.ndarray:
    if name not in s or s[name] is None:
        raise DataError(f"Cannot write {path}: structure {i} has no property '{name}'.")
    return np.asarray(s[name])


def _blocks(
    path: Path,
    structures: Iterable[Mapping[str, Any]],
    properties: dict[str, str],
    per_atom: set[str],
    chunk_size: int,
    show_progress: bool,
    total: int | None,
) -> Iterator[dict[str, np.ndarray]]:
    from tqdm import tqdm

    buf: list[dict[str, Any]] = []
    it = tqdm(structures, total=total, desc=path.name, unit="struct", disable=not show_progress)
    for i, s in enumerate(it):
        z = np.asarray(s[keys.Z]).reshape(-1)
        r = np.asarray(s[keys.R], dtype=np.float64)
        _check_structure(path, i, z, r)
        item: dict[str, Any] = {keys.Z: z, keys.R: r}
        item[keys.cell] = np.asarray(s.get(keys.cell, np.zeros((3, 3))), dtype=np.float64).reshape(3, 3)
        item[keys.pbc] = np.broadcast_to(np.asarray(s.get(keys.pbc, False), dtype=bool), (3,))
        for name in properties:
            v = _prop(path, i, s, name)
            if name in per_atom and (v.ndim == 0 or v.shape[0] != z.shape[0]):
                raise DataError(
                    f"Cannot write {path}: per-atom property '{name}' of structure {i} has shape {v.shape}, "
                    f"but the structure has {z.shape[0]} atoms."
                )
            item[name] = v
        buf.append(item)
        if len(buf) >= chunk_size:
            yield _stack(path, buf, properties, per_atom)
            buf = []
    if buf:
        yield _stack(path, buf, properties, per_atom)


def _stack(
    path: Path, buf: list[dict[str, Any]], properties: dict[str, str], per_atom: set[str]
) -> dict[str, np.ndarray]:
    counts = np.array([b[keys.Z].shape[0] for b in buf], dtype=np.int64)
    out = {
        keys.n_atoms: counts,
        keys.Z: np.concatenate([b[keys.Z] for b in buf]),
        keys.R: np.concatenate([b[keys.R] for b in buf]),
        keys.cell: np.stack([b[keys.cell] for b in buf]),
        keys.pbc: np.stack([b[keys.pbc] for b in buf]),
    }
    for name in properties:
        vals = [b[name] for b in buf]
        try:
            out[name] = np.concatenate(vals) if name in per_atom else np.stack(vals)
        except ValueError as exc:
            shapes = sorted({v.shape for v in vals})
            raise DataError(
                f"Cannot write {path}: property '{name}' has inconsistent shapes {shapes}."
            ) from exc
    return out


def _block_from_arrays(
    path: Path, arrays: Mapping[str, Any], properties: dict[str, str], per_atom: set[str]
) -> dict[str, np.ndarray]:
    z = np.asarray(arrays[keys.Z]).reshape(-1)
    r = np.asarray(arrays[keys.R], dtype=np.float64).reshape(-1, 3) if np.size(arrays[keys.R]) else None
    if keys.n_atoms in arrays:
        counts = np.asarray(arrays[keys.n_atoms], dtype=np.int64).reshape(-1)
    elif "offsets" in arrays:
        counts = np.diff(np.asarray(arrays["offsets"], dtype=np.int64)).astype(np.int64)
    else:
        raise DataError(f"Cannot write {path}: flat arrays need 'n_atoms' or 'offsets'.")
    n = counts.shape[0]
    if n == 0 or z.shape[0] == 0:
        raise DataError(f"Cannot write {path}: the input holds no structures (empty dataset).")
    if np.any(counts <= 0) or counts.sum() != z.shape[0] or r is None or r.shape[0] != z.shape[0]:
        raise DataError(
            f"Cannot write {path}: mismatched shapes: {int(counts.sum())} atoms by n_atoms, "
            f"{z.shape[0]} atomic numbers, {0 if r is None else r.shape[0]} positions."
        )
    if not np.all(np.isfinite(r)):
        bad = int(np.argwhere(~np.isfinite(r))[0, 0])
        raise DataError(f"Cannot write {path}: NaN or infinite coordinates (atom row {bad}).")
    if z.min() < 1 or z.max() > 118:
        raise DataError(f"Cannot write {path}: an atomic number is outside 1..118.")
    cell = np.asarray(arrays.get(keys.cell, np.zeros((n, 3, 3))), dtype=np.float64)
    cell = np.broadcast_to(cell.reshape(-1, 3, 3), (n, 3, 3))
    pbc = np.asarray(arrays.get(keys.pbc, False), dtype=bool)
    pbc = np.broadcast_to(pbc.reshape(-1, 3) if pbc.size > 1 else pbc, (n, 3))
    out = {keys.n_atoms: counts, keys.Z: z, keys.R: r, keys.cell: cell, keys.pbc: pbc}
    for name in properties:
        if name not in arrays:
            raise DataError(f"Cannot write {path}: the input has no property '{name}'.")
        v = np.asarray(arrays[name])
        rows = z.shape[0] if name in per_atom else n
        if v.ndim == 0 or v.shape[0] != rows:
            what = "atoms (per-atom property)" if name in per_atom else "structures"
            raise DataError(
                f"Cannot write {path}: mismatched shapes: property '{name}' has shape {v.shape}, "
                f"but the input has {rows} {what}."
            )
        out[name] = v
    return out

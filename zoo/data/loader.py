"""Batches of structures of different sizes, and a fast `DataLoader` over a split.

A batch is a ``dict[str, Tensor]`` (keys in `zoo.data.keys`): atoms of all structures are concatenated
and ``idx_m`` says which structure each atom belongs to.

`make_loader` preloads the split into memory as flat tensors when it fits (``preload="auto"``) and
assembles each batch with a few vectorised index operations (no per-structure Python loop), so data
loading is never the bottleneck of training. Datasets too large for memory are read from HDF5 per
structure and joined with `collate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    DistributedSampler,
    RandomSampler,
    SequentialSampler,
)

from zoo.data import keys
from zoo.data.dataset import AtomsDataset, atom_rows
from zoo.errors import DataError

PRELOAD_LIMIT_BYTES = 4 << 30
_ATOM_KEYS = frozenset({keys.Z, keys.R})


def _as_tensor(value: Any) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))


def collate(
    samples: Sequence[Mapping[str, Any]],
    per_atom: Iterable[str] = keys.PER_ATOM_DEFAULT,
    dtype: torch.dtype | None = None,
) -> dict[str, torch.Tensor]:
    """Join single structures (as returned by ``AtomsDataset[i]``) into one batch.

    ``Z``, ``R`` and the properties named in ``per_atom`` are concatenated along atoms; everything else
    is stacked along a new structure axis. ``idx_m`` and ``n_atoms`` are added. Floating-point tensors
    are cast to ``dtype`` when given.
    """
    if len(samples) == 0:
        raise DataError("Cannot collate an empty list of structures.")
    atom_keys = _ATOM_KEYS | set(per_atom)
    counts = torch.tensor([int(_as_tensor(s[keys.Z]).shape[0]) for s in samples], dtype=torch.int64)
    batch: dict[str, torch.Tensor] = {}
    for key in samples[0]:
        if key in (keys.n_atoms, keys.idx_m):
            continue
        values = [_as_tensor(s[key]) for s in samples]
        batch[key] = torch.cat(values) if key in atom_keys else torch.stack(values)
    batch[keys.Z] = batch[keys.Z].long()
    batch[keys.n_atoms] = counts
    batch[keys.idx_m] = torch.repeat_interleave(torch.arange(len(samples)), counts)
    if dtype is not None:
        batch = {k: v.to(dtype) if v.is_floating_point() else v for k, v in batch.items()}
    return batch


def split_indices(dataset: AtomsDataset, indices: Sequence[int] | np.ndarray | None) -> np.ndarray:
    """``indices`` as a 1-D int64 array (all structures for None), checked against the dataset's size."""
    idx = np.arange(len(dataset)) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= len(dataset)):
        raise DataError(f"Split indices fall outside {dataset.path} with {len(dataset)} structures.")
    return idx


class InMemorySplit(Dataset):
    """Structures ``indices`` of an `AtomsDataset` held in memory as flat tensors.

    ``split[i]`` is structure ``indices[i]``; ``split[list_of_positions]`` is a whole batch, assembled
    by vectorised indexing.
    """

    def __init__(
        self,
        dataset: AtomsDataset,
        indices: Sequence[int] | np.ndarray | None = None,
        properties: Sequence[str] | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        dtype = dtype or torch.get_default_dtype()
        idx = split_indices(dataset, indices)
        props = dataset.available_properties if properties is None else list(properties)
        arrays = dataset.read_arrays(props)
        offsets = dataset.offsets
        rows = atom_rows(offsets, idx)
        counts = offsets[idx + 1] - offsets[idx]
        self.indices = idx
        self.properties = props
        self.per_atom = frozenset(p for p in props if dataset.is_per_atom(p))
        self.n_atoms = torch.from_numpy(counts.astype(np.int64))
        self.starts = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64))
        self.atom: dict[str, torch.Tensor] = {
            keys.Z: torch.from_numpy(arrays[keys.Z][rows]),
            keys.R: torch.from_numpy(arrays[keys.R][rows]).to(dtype),
        }
        self.struct: dict[str, torch.Tensor] = {
            keys.cell: torch.from_numpy(arrays[keys.cell][idx]).to(dtype),
            keys.pbc: torch.from_numpy(arrays[keys.pbc][idx]),
        }
        for p in props:
            source = arrays[p][rows] if p in self.per_atom else arrays[p][idx]
            t = torch.from_numpy(np.ascontiguousarray(source))
            (self.atom if p in self.per_atom else self.struct)[p] = (
                t.to(dtype) if t.is_floating_point() else t
            )

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, item: int | Sequence[int] | torch.Tensor) -> dict[str, torch.Tensor]:
        if isinstance(item, int | np.integer):
            batch = self.batch(torch.tensor([int(item)]))
            batch.pop(keys.idx_m)
            return {k: (v[0] if k not in self.atom else v) for k, v in batch.items()}
        return self.batch(torch.as_tensor(item, dtype=torch.int64))

    def batch(self, pos: torch.Tensor) -> dict[str, torch.Tensor]:
        """The batch of split positions ``pos`` (1-D int64 tensor)."""
        counts = self.n_atoms[pos]
        b = pos.shape[0]
        idx_m = torch.repeat_interleave(torch.arange(b), counts)
        first = torch.cumsum(counts, 0) - counts
        rows = self.starts[pos][idx_m] + torch.arange(idx_m.shape[0]) - first[idx_m]
        out = {k: v[rows] for k, v in self.atom.items()}
        out.update({k: v[pos] for k, v in self.struct.items()})
        out[keys.n_atoms] = counts
        out[keys.idx_m] = idx_m
        return out


class LazySplit(Dataset):
    """Structures ``indices`` read from the HDF5 file on demand (for data larger than memory)."""

    def __init__(
        self,
        dataset: AtomsDataset,
        indices: Sequence[int] | np.ndarray | None = None,
        properties: Sequence[str] | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.dataset = dataset
        self.indices = split_indices(dataset, indices)
        self.properties = dataset.available_properties if properties is None else list(properties)
        self.per_atom = frozenset(p for p in self.properties if dataset.is_per_atom(p))
        self.dtype = dtype or torch.get_default_dtype()
        drop = set(dataset.available_properties) - set(self.properties)
        self._drop = drop

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def _one(self, pos: int) -> dict[str, Any]:
        s = self.dataset[int(self.indices[pos])]
        for k in self._drop:
            s.pop(k, None)
        return s

    def __getitem__(self, item: int | Sequence[int] | torch.Tensor) -> dict[str, torch.Tensor]:
        if isinstance(item, int | np.integer):
            s = self._one(int(item))
            return {k: v.to(self.dtype) if v.is_floating_point() else v for k, v in s.items()}
        positions = torch.as_tensor(item).tolist()
        return collate([self._one(p) for p in positions], self.per_atom, self.dtype)


def split_bytes(dataset: AtomsDataset, n_structures: int) -> int:
    """Rough memory needed to hold ``n_structures`` of ``dataset`` in memory (for the preload decision)."""
    avg_atoms = float(dataset.n_atoms.mean())
    return int(n_structures * (avg_atoms * (8 + 24 + 24 * len(dataset.available_properties)) + 200))


def make_loader(
    dataset: AtomsDataset,
    indices: Sequence[int] | np.ndarray | None = None,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 0,
    distributed: bool = False,
    drop_last: bool = False,
    properties: Sequence[str] | None = None,
    dtype: torch.dtype | None = None,
    preload: bool | str = "auto",
    num_replicas: int | None = None,
    rank: int | None = None,
    pin_memory: bool = False,
) -> DataLoader:
    """A `DataLoader` yielding batch dicts of the structures ``indices`` of ``dataset``.

    ``shuffle`` uses a generator seeded with ``seed`` (a new order every epoch, the same sequence of
    orders every run). ``distributed=True`` shards the split with `DistributedSampler` (call
    `set_epoch(loader, epoch)` each epoch). Floating-point data are cast to ``dtype`` (default: torch's
    default dtype). ``preload`` = True / False / "auto" (in memory when under 4 GiB).
    """
    if batch_size <= 0:
        raise DataError(f"batch_size must be positive, got {batch_size}.")
    n = len(dataset) if indices is None else len(indices)
    if n == 0:
        raise DataError(f"The split of {dataset.path} is empty: there is nothing to load.")
    in_memory = preload is True or (preload == "auto" and split_bytes(dataset, n) <= PRELOAD_LIMIT_BYTES)
    split_cls = InMemorySplit if in_memory else LazySplit
    split = split_cls(dataset, indices, properties, dtype)
    base: Any
    if distributed:
        base = DistributedSampler(
            split, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last
        )
    elif shuffle:
        base = RandomSampler(split, generator=torch.Generator().manual_seed(seed))
    else:
        base = SequentialSampler(split)
    sampler = BatchSampler(base, batch_size=batch_size, drop_last=drop_last)
    return DataLoader(
        split,
        batch_size=None,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )


def set_epoch(loader: DataLoader, epoch: int) -> None:
    """Tell a distributed loader which epoch it is (so every epoch is shuffled differently)."""
    sampler = getattr(loader.sampler, "sampler", None)
    if isinstance(sampler, DistributedSampler):
        sampler.set_epoch(epoch)

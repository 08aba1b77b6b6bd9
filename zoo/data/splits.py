"""Train/validation/test splits: reproducible from a seed, saved to an npz and reused."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import DataError


@dataclass(frozen=True)
class Splits:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    @property
    def sha256(self) -> str:
        return split_hash(self.train, self.val, self.test)

    def __iter__(self) -> Iterator[np.ndarray]:
        """``train, val, test = create_splits(...)`` works too."""
        return iter((self.train, self.val, self.test))


def split_hash(train: np.ndarray, val: np.ndarray, test: np.ndarray) -> str:
    """sha256 of the three index arrays (as little-endian int64, with their lengths), for provenance."""
    h = hashlib.sha256()
    for arr in (train, val, test):
        a = np.ascontiguousarray(arr, dtype="<i8")
        h.update(np.int64(a.shape[0]).astype("<i8").tobytes())
        h.update(a.tobytes())
    return h.hexdigest()


def _count(value: int | float, total: int, what: str) -> int:
    if isinstance(value, float) and 0.0 <= value <= 1.0 and not float(value).is_integer():
        return int(round(value * total))
    if value < 0 or int(value) != value:
        raise DataError(f"{what} must be a non-negative count or a fraction in [0, 1], got {value}.")
    return int(value)


def create_splits(
    dataset_len: int,
    n_train: int | float,
    n_val: int | float,
    seed: int = 0,
    path: str | os.PathLike[str] | None = None,
    n_test: int | float | None = None,
) -> Splits:
    """Random split of ``range(dataset_len)``: ``n_train`` and ``n_val`` structures (counts or fractions);
    the test set is the rest (or ``n_test`` of it). With ``path``, an existing split file is reused when
    it matches (same dataset length and sizes), otherwise a new one is written there atomically."""
    if dataset_len <= 0:
        raise DataError(f"Cannot split an empty dataset (length {dataset_len}).")
    tr = _count(n_train, dataset_len, "n_train")
    va = _count(n_val, dataset_len, "n_val")
    if tr + va > dataset_len:
        raise DataError(f"n_train + n_val = {tr + va} exceeds the dataset's {dataset_len} structures.")
    te = dataset_len - tr - va if n_test is None else _count(n_test, dataset_len, "n_test")
    if tr + va + te > dataset_len:
        raise DataError(
            f"n_train + n_val + n_test = {tr + va + te} exceeds the dataset's {dataset_len} structures."
        )
    if path is not None and Path(path).exists():
        splits = load_splits(path, dataset_len)
        if (len(splits.train), len(splits.val), len(splits.test)) != (tr, va, te):
            raise DataError(
                f"{path} holds a split of sizes {len(splits.train)}/{len(splits.val)}/{len(splits.test)}, "
                f"not the requested {tr}/{va}/{te}; delete it or choose another split file."
            )
        return splits
    perm = np.random.default_rng(seed).permutation(dataset_len).astype(np.int64)
    splits = Splits(perm[:tr], perm[tr : tr + va], perm[tr + va : tr + va + te])
    if path is not None:
        save_splits(path, splits, dataset_len, seed)
    return splits


def save_splits(
    path: str | os.PathLike[str], splits: Splits, dataset_len: int, seed: int | None = None
) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(
        buf,
        train_idx=splits.train,
        val_idx=splits.val,
        test_idx=splits.test,
        dataset_len=np.int64(dataset_len),
        seed=np.int64(-1 if seed is None else seed),
        sha256=np.array(splits.sha256),
    )
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_splits(path: str | os.PathLike[str], dataset_len: int | None = None) -> Splits:
    """Read a split file; checks that its indices fit a dataset of ``dataset_len`` structures."""
    p = Path(path)
    try:
        with np.load(p) as f:
            splits = Splits(
                f["train_idx"].astype(np.int64), f["val_idx"].astype(np.int64), f["test_idx"].astype(np.int64)
            )
            stored_len = int(f["dataset_len"]) if "dataset_len" in f.files else None
    except FileNotFoundError:
        raise DataError(f"{p} does not exist.") from None
    except (KeyError, ValueError, OSError, EOFError) as exc:
        raise DataError(f"{p} is not a valid split file ({exc}).") from None
    if dataset_len is not None:
        if stored_len is not None and stored_len != dataset_len:
            raise DataError(f"{p} was made for a dataset of {stored_len} structures, not {dataset_len}.")
        all_idx = np.concatenate([splits.train, splits.val, splits.test])
        if all_idx.size and (all_idx.min() < 0 or all_idx.max() >= dataset_len):
            raise DataError(f"{p} has indices outside a dataset of {dataset_len} structures.")
    return splits

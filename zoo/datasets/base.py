"""Common machinery of the public datasets: raw files under ``root/<name>/raw``, downloaded (or placed there
by hand when offline), converted ONCE to a zoo HDF5 file under ``root/<name>/``, then reused."""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from zoo.data.dataset import AtomsDataset
from zoo.datasets.download import OfflineError, check_hash, download
from zoo.errors import DataError, DownloadError


@dataclass(frozen=True)
class RemoteFile:
    """One upstream file: where it lives, its local name and (where published) its checksum."""

    name: str
    url: str
    sha256: str | None = None  # full digest or a published prefix
    md5: str | None = None


class PreparedDataset:
    """Base class: ``ds = QM9(root); ds.dataset`` is the converted `AtomsDataset` (converted on first use).

    Subclasses set ``name`` and ``files`` and implement ``_processed_name`` and ``_convert``.
    ``urls`` overrides upstream addresses (key -> URL), e.g. to point at a mirror or a test server.
    """

    name: ClassVar[str] = ""
    files: ClassVar[Mapping[str, RemoteFile]] = {}
    FORMAT_TAG: ClassVar[str] = "1"

    def __init__(
        self,
        root: str | os.PathLike[str],
        download: bool = True,
        urls: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        progress: bool = True,
    ) -> None:
        self.root = Path(root)
        self.download = download
        self.timeout = timeout
        self.progress = progress
        self.remote: dict[str, RemoteFile] = {k: f for k, f in self.files.items()}
        for key, url in (urls or {}).items():
            if key not in self.remote:
                raise DataError(
                    f"{type(self).__name__} has no file {key!r} (files: {', '.join(self.remote)})."
                )
            self.remote[key] = replace(self.remote[key], url=url)
        self._dataset: AtomsDataset | None = None

    # ------------------------------------------------------------------ paths
    @property
    def folder(self) -> Path:
        return self.root / self.name

    @property
    def raw_folder(self) -> Path:
        return self.folder / "raw"

    @property
    def processed_path(self) -> Path:
        return self.folder / self._processed_name()

    def _processed_name(self) -> str:
        raise NotImplementedError

    def _convert(self, out: Path) -> AtomsDataset:
        raise NotImplementedError

    # ------------------------------------------------------------------ raw files
    def raw_path(self, key: str) -> Path:
        return self.raw_folder / self.remote[key].name

    def fetch(self, key: str) -> Path:
        """Local path of raw file ``key``, downloading it when missing (and allowed)."""
        f = self.remote[key]
        path = self.raw_path(key)
        if path.exists():
            return path
        if not self.download:
            raise DownloadError(self._offline_sentence(key))
        try:
            return download(
                f.url, path, sha256=f.sha256, md5=f.md5, timeout=self.timeout, progress=self.progress
            )
        except OfflineError:
            raise DownloadError(self._offline_sentence(key)) from None

    def _offline_sentence(self, key: str) -> str:
        f = self.remote[key]
        return f"{f.name} is not available offline: download {f.url} and place it at {self.raw_path(key)}."

    def verify(self, key: str) -> str:
        """Check a raw file against its published checksum; returns its sha256."""
        f = self.remote[key]
        return check_hash(self.raw_path(key), f.sha256, f.md5)

    # ------------------------------------------------------------------ processed dataset
    def prepare(self) -> AtomsDataset:
        """Convert the raw data once (or reuse the converted file) and return the `AtomsDataset`."""
        if self._dataset is not None:
            return self._dataset
        out = self.processed_path
        if out.exists():
            try:
                ds = AtomsDataset(out)
                if ds.attrs.get("zoo_dataset") == self._tag():
                    self._dataset = ds
                    return ds
                ds.close()
            except DataError:
                pass
            out.unlink()  # stale or corrupt conversion: redo it
        out.parent.mkdir(parents=True, exist_ok=True)
        self._dataset = self._convert(out)
        return self._dataset

    def _tag(self) -> str:
        return f"{self.name}:{self._processed_name()}:v{self.FORMAT_TAG}"

    @property
    def dataset(self) -> AtomsDataset:
        return self.prepare()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        return self.dataset[idx]

    # ------------------------------------------------------------------ helpers for subclasses
    def _create(self, out: Path, structures: Any, units: Mapping[str, str], **kw: Any) -> AtomsDataset:
        return AtomsDataset.create(out, structures, units, zoo_dataset=self._tag(), **kw)


def open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:*")
    except (tarfile.TarError, EOFError, OSError):
        raise DataError(
            f"{path} is truncated or corrupt (not a readable tar archive); delete it and download it again."
        ) from None


def extract_members(archive: Path, names: Sequence[str], dest: Path) -> dict[str, Path]:
    """Extract the archive members whose path ends with one of ``names`` into ``dest``, each atomically."""
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {n: dest / Path(n).name for n in names}
    if all(p.exists() for p in wanted.values()):
        return wanted
    found: dict[str, Path] = {}
    try:
        with open_tar(archive) as tar:
            for member in tar:
                match = next((n for n in wanted if member.name.endswith(n)), None)
                if match is None or not member.isfile():
                    continue
                src = tar.extractfile(member)
                if src is None:
                    continue
                tmp = wanted[match].with_name(wanted[match].name + ".tmp")
                try:
                    with src, open(tmp, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                    os.replace(tmp, wanted[match])
                finally:
                    tmp.unlink(missing_ok=True)
                found[match] = wanted[match]
                if len(found) == len(wanted):
                    break
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(
            f"{archive} is truncated or corrupt ({exc}); delete it and download it again."
        ) from None
    missing = [n for n in wanted if not wanted[n].exists()]
    if missing:
        raise DataError(f"{archive} does not contain {missing[0]}.")
    return wanted


def finite_rows(*arrays: np.ndarray) -> np.ndarray:
    """Mask of leading-axis rows that are finite in every array."""
    ok = np.ones(arrays[0].shape[0], dtype=bool)
    for a in arrays:
        ok &= np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
    return ok

"""Pretrained models: a registry shipped inside the package, verified downloads, a local cache.

    import zoo.pretrained
    zoo.pretrained.available()                                   # names in the registry
    calc = zoo.pretrained.load("schnet-malonaldehyde-xtb")        # a ready zoo.ase.ZooCalculator
    path = zoo.pretrained.fetch("schnet-malonaldehyde-xtb")       # the verified artifact file

The registry (``registry.json`` next to this file) records for every model its name, version, URL,
sha256, size and a summary of the artifact's metadata (model kind, cutoff, species, units, training data,
n_train, test errors, the command that trained it). A model file is found, in this order:

1. inside the package (``zoo/pretrained/<file>``, shipped in the wheel), if its sha256 matches;
2. in the cache, ``$ZOO_CACHE/pretrained/<version>/<file>`` (default cache folder: the platform's user
   cache dir, ``~/.cache/zoo`` on Linux), if its sha256 matches — no network needed;
3. downloaded from the registry URL (or ``$ZOO_PRETRAINED_BASE_URL/<file>``) with
   `zoo.datasets.download.download`: written to ``<file>.part``, resumed with an HTTP Range request
   after an interruption, sha256-verified, then renamed. Failures raise `zoo.errors.DownloadError`
   (one sentence); the cache never holds an unverified file under the model's name.
"""

from __future__ import annotations

import difflib
import errno
import http.client
import json
import os
import sys
import urllib.error
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from zoo.errors import DownloadError, ZooError

__all__ = [
    "BASE_URL_ENV",
    "CACHE_ENV",
    "PretrainedModel",
    "available",
    "cache_dir",
    "fetch",
    "get",
    "load",
    "locate",
    "registry",
]

PACKAGE_DIR = Path(__file__).resolve().parent
REGISTRY_FILE = PACKAGE_DIR / "registry.json"
REGISTRY_FORMAT = "zoo-pretrained-registry"
REGISTRY_VERSION = 1
CACHE_ENV = "ZOO_CACHE"
BASE_URL_ENV = "ZOO_PRETRAINED_BASE_URL"
TIMEOUT_ENV = "ZOO_DOWNLOAD_TIMEOUT"


@dataclass(frozen=True)
class PretrainedModel:
    """One registry entry."""

    name: str
    version: str
    file: str
    url: str
    sha256: str
    size: int
    description: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    test_errors: dict[str, Any] = field(default_factory=dict)
    entry: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def download_url(self) -> str:
        """The registry URL, or ``$ZOO_PRETRAINED_BASE_URL/<file>`` when that is set."""
        base = os.environ.get(BASE_URL_ENV)
        if base:
            return base.rstrip("/") + "/" + self.file
        return self.url

    @property
    def packaged_path(self) -> Path:
        return PACKAGE_DIR / self.file

    @property
    def cache_path(self) -> Path:
        return cache_dir() / "pretrained" / self.version / self.file

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.entry}


# ---------------------------------------------------------------------------------------- registry
def _parse_registry(path: Path) -> dict[str, PretrainedModel]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZooError(f"the pretrained-model registry {path} is missing; reinstall zoo") from None
    except ValueError as exc:
        raise ZooError(f"the pretrained-model registry {path} is not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != REGISTRY_FORMAT:
        raise ZooError(f"{path} is not a zoo pretrained-model registry")
    if int(raw.get("format_version", 0)) > REGISTRY_VERSION:
        raise ZooError(
            f"the pretrained-model registry {path} has format version {raw['format_version']}, "
            f"newer than this zoo reads ({REGISTRY_VERSION}); upgrade zoo"
        )
    out: dict[str, PretrainedModel] = {}
    for name, e in (raw.get("models") or {}).items():
        try:
            out[name] = PretrainedModel(
                name=name,
                version=str(e["version"]),
                file=str(e["file"]),
                url=str(e["url"]),
                sha256=str(e["sha256"]).lower(),
                size=int(e["size"]),
                description=str(e.get("description", "")),
                summary=dict(e.get("summary") or {}),
                training=dict(e.get("training") or {}),
                test_errors=dict(e.get("test_errors") or {}),
                entry=dict(e),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ZooError(f"registry entry {name!r} in {path} is incomplete ({exc!r})") from None
        if len(out[name].sha256) != 64 or Path(out[name].file).name != out[name].file:
            raise ZooError(f"registry entry {name!r} in {path} has a bad sha256 or file name")
    return out


@lru_cache(maxsize=4)
def _cached_registry(path: str, mtime: float) -> dict[str, PretrainedModel]:
    return _parse_registry(Path(path))


def registry(path: str | os.PathLike[str] | None = None) -> dict[str, PretrainedModel]:
    """All registry entries by name (the packaged ``registry.json`` unless ``path`` is given)."""
    p = Path(path) if path is not None else REGISTRY_FILE
    try:
        mtime = p.stat().st_mtime
    except OSError:
        mtime = -1.0
    return dict(_cached_registry(str(p), mtime))


def available() -> list[str]:
    """Names of the registered pretrained models."""
    return sorted(registry())


def get(name: str) -> PretrainedModel:
    """The registry entry of ``name``; a `ZooError` naming close matches when there is none."""
    models = registry()
    if name in models:
        return models[name]
    close = difflib.get_close_matches(name, list(models), n=3, cutoff=0.4)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    known = ", ".join(sorted(models)) or "none"
    raise ZooError(f"no pretrained model named {name!r}{hint} (available: {known})")


# ---------------------------------------------------------------------------------------- cache
def cache_dir() -> Path:
    """``$ZOO_CACHE``, else the platform's user cache folder for zoo (``~/.cache/zoo`` on Linux)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        return (Path(base) if base else home / "AppData" / "Local") / "zoo" / "Cache"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "zoo"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else home / ".cache") / "zoo"


def _matches(path: Path, model: PretrainedModel) -> bool:
    from zoo.datasets.download import file_hash

    try:
        return path.stat().st_size == model.size and file_hash(path) == model.sha256
    except OSError:
        return False


def locate(name: str) -> Path | None:
    """The verified local file of ``name`` (packaged or cached), or None; never touches the network."""
    model = get(name)
    for candidate in (model.packaged_path, model.cache_path):
        if candidate.is_file():
            if _matches(candidate, model):
                return candidate
            if candidate == model.packaged_path:
                warnings.warn(
                    f"the packaged file {candidate} does not match the registry's sha256 and is ignored",
                    stacklevel=2,
                )
    return None


def fetch(
    name: str,
    download: bool = True,
    progress: bool = False,
    timeout: float | None = None,
) -> Path:
    """The path of the verified artifact of ``name``: packaged, cached, or downloaded into the cache."""
    model = get(name)
    local = locate(name)
    if local is not None:
        return local
    dest = model.cache_path
    if not download:
        raise DownloadError(
            f"pretrained model {name!r} is neither shipped in the package nor cached at {dest}, "
            "and downloading is off"
        )
    if dest.exists():  # present but wrong: a stale or tampered file is replaced, never used
        dest.unlink()
    from zoo.datasets.download import download as _download

    if timeout is None:
        timeout = float(os.environ.get(TIMEOUT_ENV, "60"))
    url = model.download_url
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the cache folder {dest.parent} ({exc.strerror or exc})") from None
    try:
        _download(url, dest, sha256=model.sha256, timeout=timeout, progress=progress)
    except DownloadError as exc:
        # nothing unverified ever stays under the model's name
        if dest.exists() and not _matches(dest, model):
            dest.unlink(missing_ok=True)
        part = dest.with_name(dest.name + ".part")
        cause = exc.__context__  # the downloader raises `from None`; the original error is kept here
        if _is_write_error(cause):
            part.unlink(missing_ok=True)
            what = "the disk is full" if getattr(cause, "errno", None) == errno.ENOSPC else "writing failed"
            raise DownloadError(
                f"pretrained model {name!r}: {what} while downloading {url} to {dest.parent} "
                f"({getattr(cause, 'strerror', None) or cause}); the partial file was removed, "
                "free space and run again"
            ) from None
        if isinstance(cause, urllib.error.HTTPError):
            part.unlink(missing_ok=True)  # the URL is wrong or gone: a partial file would never complete
        # time-outs and dropped connections keep `<file>.part`, and the next call resumes it
        raise type(exc)(f"pretrained model {name!r}: {exc}") from None
    if dest.stat().st_size != model.size:  # the sha256 matched, so this cannot happen unless edited
        dest.unlink(missing_ok=True)
        raise DownloadError(f"pretrained model {name!r}: {url} has the wrong size")
    return dest


def _is_write_error(exc: BaseException | None) -> bool:
    """A local write failure (disk full, permissions), as opposed to a network failure worth resuming."""
    network = (TimeoutError, ConnectionError, urllib.error.URLError, http.client.HTTPException)
    return isinstance(exc, OSError) and not isinstance(exc, network)


def load(name: str, device: str = "cpu", download: bool = True, **kwargs: Any) -> Any:
    """A ready `zoo.ase.ZooCalculator` for the pretrained model ``name`` (fetched and verified first).

    Extra keyword arguments go to the calculator (e.g. ``skin``).
    """
    from zoo.ase import ZooCalculator

    return ZooCalculator(fetch(name, download=download), device=device, **kwargs)

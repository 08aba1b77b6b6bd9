"""Resumable, verified downloads over HTTP(S) (urllib only); usable for datasets and pretrained models.

``download(url, dest)`` writes to ``dest + ".part"`` and renames it to ``dest`` only once it is complete
and its checksum matches. An interrupted download (time-out, dropped connection, full disk, Ctrl-C)
keeps the ``.part`` file, and the next call resumes it with an HTTP Range request. A checksum
mismatch deletes the ``.part`` file. Every failure raises `zoo.errors.DownloadError` with one sentence.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from zoo.errors import DownloadError

USER_AGENT = "zoo-downloader/1 (+https://github.com/; urllib)"
CHUNK = 1 << 20


class OfflineError(DownloadError):
    """The server could not be reached at all (no network, DNS failure, refused connection)."""


def file_hash(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def check_hash(
    path: Path, sha256: str | None = None, md5: str | None = None, label: str | None = None
) -> str:
    """Verify ``path`` against a sha256 (full or a published prefix of at least 8 hex digits) and/or md5.

    Returns the full sha256. Raises `DownloadError` on a mismatch.
    """
    label = label or path.name
    digest = file_hash(path, "sha256")
    if sha256 is not None:
        want = sha256.lower().strip()
        if len(want) < 8 or not digest.startswith(want):
            raise DownloadError(
                f"Checksum mismatch for {label}: sha256 is {digest}, expected {want}"
                f"{'...' if len(want) < 64 else ''}; the file was deleted, download it again."
            )
    if md5 is not None:
        got = file_hash(path, "md5")
        if got != md5.lower().strip():
            raise DownloadError(
                f"Checksum mismatch for {label}: md5 is {got}, expected {md5}; the file was deleted."
            )
    return digest


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def download(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | None = None,
    md5: str | None = None,
    timeout: float = 60.0,
    progress: bool = True,
    resume: bool = True,
    headers: dict[str, str] | None = None,
) -> Path:
    """Download ``url`` to ``dest`` (resumably, verified) and return ``dest``.

    An existing ``dest`` that matches the checksum (or any existing ``dest`` when none is given) is reused
    without network access. ``sha256`` may be a full hex digest or a published prefix of it.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        if sha256 is None and md5 is None:
            return dest
        try:
            check_hash(dest, sha256, md5)
            return dest
        except DownloadError:
            dest.unlink()
    part = part_path(dest)
    _fetch(url, part, timeout, progress, resume, headers or {})
    try:
        check_hash(part, sha256, md5, label=f"{dest.name} (from {url})")
    except DownloadError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    return dest


def _fetch(
    url: str, part: Path, timeout: float, progress: bool, resume: bool, headers: dict[str, str]
) -> None:
    from tqdm import tqdm

    offset = part.stat().st_size if (resume and part.exists()) else 0
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})
    if offset:
        req.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # Range not satisfiable: the .part is already complete
            return
        hint = " (not found)" if exc.code == 404 else ""
        raise DownloadError(f"Download of {url} failed with HTTP {exc.code}{hint}.") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise OfflineError(
            f"Could not reach {url} ({reason}); when offline, place the file at {part.with_suffix('')}."
        ) from None
    with response:
        status = getattr(response, "status", 200)
        if offset and status != 206:
            offset = 0  # the server ignored the Range header: start again
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        mode = "ab" if offset else "wb"
        done = offset
        try:
            with (
                open(part, mode) as out,
                tqdm(
                    total=total,
                    initial=offset,
                    unit="B",
                    unit_scale=True,
                    desc=part.name[:-5],
                    disable=not progress,
                    leave=False,
                ) as bar,
            ):
                while True:
                    block = response.read(CHUNK)
                    if not block:
                        break
                    out.write(block)
                    done += len(block)
                    bar.update(len(block))
        except (TimeoutError, ConnectionError, urllib.error.URLError, http.client.HTTPException) as exc:
            raise DownloadError(
                f"Download of {url} was interrupted after {done} bytes ({exc}); "
                f"run again to resume from {part}."
            ) from None
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DownloadError(
                    f"The disk is full while writing {part} ({done} bytes so far); "
                    "free space and run again to resume."
                ) from None
            raise DownloadError(f"Could not write {part}: {exc.strerror or exc}.") from None
    if total is not None and done < total:
        raise DownloadError(
            f"Download of {url} ended early at {done} of {total} bytes; run again to resume from {part}."
        )

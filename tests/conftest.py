"""Shared fixtures. Real data lives in ../shared/data beside the repository (ZOO_SHARED_DATA overrides)."""

from __future__ import annotations

import http.server
import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ZOO_SHARED_DATA", REPO.parent / "shared" / "data"))

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA}; set ZOO_SHARED_DATA")
    return SHARED_DATA


def water_frame(shared_data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first 192-atom frame of the DeePMD water data, read by zoo.data.io.read_deepmd: positions (as
    stored, float32), atomic numbers and the cell (rows = lattice vectors), Å."""
    from zoo.data import keys
    from zoo.data.io import read_deepmd

    frame = next(read_deepmd(shared_data / "water" / "data_0")[0])
    return frame[keys.R], frame[keys.Z], frame[keys.cell]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="module")
def one_thread():
    """Many small model calls: one intra-op thread avoids OpenMP spinning on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def aoti_golden(tmp_path_factory) -> dict[str, Path]:
    """The export/golden models as AOTInductor .pt2 artifacts (tests/aoti_golden.py), compiled once."""
    import aoti_golden as builds

    return builds.build(tmp_path_factory.mktemp("aoti_golden"))


def answer_range(handler: http.server.BaseHTTPRequestHandler, body: bytes, allow_range: bool) -> bytes | None:
    """Send the status line and headers for a GET of ``body`` that honours ``Range: bytes=N-`` (when
    ``allow_range``), as the test HTTP servers on 127.0.0.1 do; returns the payload to write, or None
    after answering 416 for a start beyond the end."""
    start = 0
    rng = handler.headers.get("Range")
    if rng and allow_range:
        start = int(rng.split("=")[1].split("-")[0])
        if start >= len(body):
            handler.send_response(416)
            handler.send_header("Content-Range", f"bytes */{len(body)}")
            handler.end_headers()
            return None
        handler.send_response(206)
        handler.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
    else:
        handler.send_response(200)
    payload = body[start:]
    handler.send_header("Content-Length", str(len(payload)))
    handler.send_header("Content-Type", "application/octet-stream")
    handler.end_headers()
    return payload

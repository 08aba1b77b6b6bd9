"""export/golden helpers shared by the tests: the golden folder, make_golden.py as a module, a case's
inputs as numpy arrays, and the SPEC tolerances (float64 1e-10 relative, float32 1e-5 plus a floor)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "export" / "golden"
RTOL = {"float32": 1e-5, "float64": 1e-10}


def make_golden() -> Any:
    spec = importlib.util.spec_from_file_location("make_golden", REPO / "export" / "make_golden.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inputs(doc: dict) -> tuple:
    """(positions, numbers, edge_index, shifts, n_local) of a golden JSON document."""
    i = doc["inputs"]
    return (
        np.array(i["positions"]),
        np.array(i["numbers"]),
        np.array(i["edge_index"], dtype=np.int64).reshape(2, -1),
        np.array(i["shifts"]).reshape(-1, 3),
        i["n_local"],
    )


def assert_close(got: Any, want: Any, dtype: str, what: str) -> None:
    want = np.asarray(want, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64).reshape(want.shape)
    rtol = RTOL[dtype]
    atol = rtol * max(1.0, float(np.abs(want).max())) if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)

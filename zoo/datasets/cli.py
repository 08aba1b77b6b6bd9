"""`zoo data prepare ...` (filled in by zoo.datasets)."""

from __future__ import annotations

from typing import Any


def register_prepare(sub: Any) -> None:
    return None

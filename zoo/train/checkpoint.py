"""Checkpoints: written atomically (temporary name + rename), loaded with a clear error when corrupt."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from zoo.errors import ZooError
from zoo.model import AtomisticModel, build_model

CHECKPOINT_FORMAT = "zoo-checkpoint"
CHECKPOINT_VERSION = 1


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ZooError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise ZooError(
            f"checkpoint {path} is corrupt or not a zoo checkpoint ({type(exc).__name__})"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ZooError(f"{path} is not a zoo checkpoint")
    if int(ckpt.get("version", 0)) > CHECKPOINT_VERSION:
        raise ZooError(f"checkpoint {path} was written by a newer zoo (checkpoint version {ckpt['version']})")
    return ckpt


def load_model(path: str | Path) -> tuple[AtomisticModel, dict[str, Any]]:
    """Rebuild the model stored in a checkpoint (on CPU, in its training dtype)."""
    ckpt = read_checkpoint(path)
    model = build_model(ckpt["config"])
    if ckpt.get("dtype") == "float64":
        model = model.double()
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, ckpt

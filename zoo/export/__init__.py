"""Exporting trained models as self-describing, versioned artifacts (export/SPEC.md).

from zoo.export import export_checkpoint, load_artifact
export_checkpoint("run/best.ckpt", "model.pt")                 # TorchScript, float32
export_checkpoint("run/best.ckpt", "model.onnx", fmt="onnx")   # ONNX (energy, forces, virial)
export_checkpoint("run/best.ckpt", "model.pt2", fmt="aoti")    # AOTInductor (compiled, CPU)
art = load_artifact("model.pt"); out = art.compute(positions, numbers, edge_index, shifts)
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from zoo.errors import ArtifactError, ZooError
from zoo.export.artifact import Artifact, load_artifact, read_metadata
from zoo.export.checksum import onnx_weights_sha256, torchscript_weights_sha256
from zoo.export.metadata import FORMAT_MAJOR, FORMAT_VERSION, build_metadata, with_filter_table
from zoo.export.torchscript import frozen_copy, save_torchscript, script_frozen
from zoo.heads import Atomwise
from zoo.model import AtomisticModel

__all__ = [
    "Artifact",
    "FORMAT_MAJOR",
    "FORMAT_VERSION",
    "export_checkpoint",
    "export_model",
    "load_artifact",
    "load_checkpoint",
    "read_metadata",
    "onnx_weights_sha256",
    "torchscript_weights_sha256",
]

FORMATS = ("torchscript", "onnx", "aoti")


def load_checkpoint(path: str | Path) -> tuple[AtomisticModel, dict[str, Any]]:
    """(model, checkpoint dict) from a trainer checkpoint (zoo.train.checkpoint.load_model)."""
    from zoo.train.checkpoint import load_model

    return load_model(path)


def export_model(
    model: AtomisticModel,
    config: dict[str, Any],
    out: str | Path,
    fmt: str = "torchscript",
    dtype: str = "float32",
    checkpoint: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
    created: str | None = None,
    isa: str = "avx2",
    threads: int = 1,
    filter_table: int = 0,
) -> dict[str, Any]:
    """Write ``model`` as an artifact at ``out``; returns the metadata stored in it.

    ``isa`` and ``threads`` apply to ``fmt="aoti"`` only: instruction set and thread count the library's
    kernels are compiled for (zoo/export/aoti.py). ``filter_table`` > 0 (SchNet, TorchScript and
    AOTInductor): tabulate the filter networks on that many intervals (export/SPEC.md "Filter tables")."""
    if fmt not in FORMATS:
        raise ArtifactError(f"unknown export format {fmt!r}; choose torchscript, onnx or aoti")
    if dtype not in ("float32", "float64"):
        raise ArtifactError(f"dtype must be float32 or float64, not {dtype!r}")
    energy_head = model.heads[model.energy_key]
    if not isinstance(energy_head, Atomwise) or energy_head.n_out != 1:
        raise ArtifactError(
            f"this model predicts only {', '.join(model.heads)}: an artifact serves an energy with its "
            "forces (export/SPEC.md), so the model needs a scalar energy property to be exported"
        )
    if filter_table < 0:
        raise ArtifactError(f"filter_table must be 0 (off) or a number of intervals, not {filter_table}")
    if filter_table and fmt == "onnx":
        raise ArtifactError(
            "filter tables need zoo's operator zoo::cfconv_tab, which ONNX Runtime does not have: "
            "export ONNX without --filter-table (or choose .pt / .pt2)"
        )
    meta = build_metadata(model, config, dtype, fmt, checkpoint, source, created)
    if fmt == "onnx":
        from zoo.export.onnx_export import save_onnx

        return save_onnx(model, out, meta, dtype)
    frozen = frozen_copy(model, dtype, filter_table)
    if filter_table:
        meta = with_filter_table(meta, frozen.representation.table_error)
    if fmt == "torchscript":
        return save_torchscript(script_frozen(frozen), out, meta)
    from zoo.export.aoti import save_aoti

    return save_aoti(frozen, out, meta, dtype, isa, threads)


def export_checkpoint(
    ckpt_path: str | Path,
    out: str | Path,
    fmt: str = "torchscript",
    dtype: str = "float32",
    created: str | None = None,
    isa: str = "avx2",
    threads: int = 1,
    filter_table: int = 0,
) -> dict[str, Any]:
    """`zoo export`: checkpoint -> artifact."""
    ckpt_path = Path(ckpt_path)
    try:
        model, ckpt = load_checkpoint(ckpt_path)
    except ZooError:
        raise
    except (KeyError, RuntimeError, TypeError) as exc:
        raise ArtifactError(f"checkpoint {ckpt_path} cannot be rebuilt into a model ({exc})") from None
    h = hashlib.sha256()
    with open(ckpt_path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    source = {"checkpoint": ckpt_path.name, "checkpoint_sha256": h.hexdigest()}
    return export_model(
        model, ckpt["config"], out, fmt, dtype, ckpt, source, created, isa, threads, filter_table
    )

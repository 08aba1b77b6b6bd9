"""TorchScript encoding: torch.jit.script(ArtifactModule(model)), frozen, metadata as extra file."""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from zoo.errors import ArtifactError
from zoo.export.checksum import torchscript_weights_sha256
from zoo.export.metadata import METADATA_FILE
from zoo.model import ArtifactModule, AtomisticModel
from zoo.nn import SchNet

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def frozen_copy(model: AtomisticModel, dtype: str, filter_table: int = 0) -> AtomisticModel:
    """A copy of ``model`` in ``dtype`` for export: no gradients for the weights, SchNet's filter weights
    packed and, with ``filter_table`` > 0, its filters tabulated on that many intervals (SPEC "Filter
    tables"; its step and error are then in ``representation.table_error``), and SchNet's forces
    computed by the backward pass written out (zoo.explicit_forces)."""
    if dtype not in DTYPES:
        raise ArtifactError(f"dtype must be float32 or float64, not {dtype!r}")
    if filter_table and not isinstance(model.representation, SchNet):
        raise ArtifactError(
            "filter tables are for SchNet's filter networks; this is a "
            f"{type(model.representation).__name__} model: export it without --filter-table"
        )
    m = copy.deepcopy(model).to(DTYPES[dtype]).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    if isinstance(m.representation, SchNet):
        m.representation.pack_filters()
        if filter_table:
            m.representation.tabulate_filters(filter_table)
        m.prepare_explicit_forces()  # forces without autograd (zoo.explicit_forces)
    return m


def script_frozen(m: AtomisticModel) -> torch.jit.ScriptModule:
    """The frozen TorchScript module of a ``frozen_copy``, with the call signature of export/SPEC.md."""
    scripted = torch.jit.script(ArtifactModule(m)).eval()
    # forward_unchecked: the CUDA-graph entry point (export/SPEC.md "forward_unchecked"; zoo.cuda_graph)
    return torch.jit.freeze(scripted, preserved_attrs=["forward_unchecked"])


def script_artifact(
    model: AtomisticModel, dtype: str = "float32", filter_table: int = 0
) -> torch.jit.ScriptModule:
    """The frozen TorchScript module of ``model`` (export/SPEC.md)."""
    return script_frozen(frozen_copy(model, dtype, filter_table))


def atomic_write(path: Path, write: Any) -> None:
    """Call write(tmp_path) on a temporary name in the target folder, then rename over path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; artifacts are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_torchscript(
    module: torch.jit.ScriptModule, path: str | Path, metadata: dict[str, Any]
) -> dict[str, Any]:
    """Write module + metadata (with its weights_sha256 filled in) atomically; returns the metadata."""
    path = Path(path)
    meta = dict(metadata)

    def write(tmp: Path) -> None:
        meta["weights_sha256"] = None
        torch.jit.save(module, str(tmp), _extra_files={METADATA_FILE: json.dumps(meta)})
        meta["weights_sha256"] = torchscript_weights_sha256(tmp)
        torch.jit.save(module, str(tmp), _extra_files={METADATA_FILE: json.dumps(meta, indent=1)})
        if torchscript_weights_sha256(tmp) != meta["weights_sha256"]:  # tensor records must be stable
            raise ArtifactError("TorchScript serialisation is not reproducible; cannot checksum the weights")

    atomic_write(path, write)
    return meta

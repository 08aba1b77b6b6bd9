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


def script_artifact(model: AtomisticModel, dtype: str = "float32") -> torch.jit.ScriptModule:
    """The frozen TorchScript module with the call signature of export/SPEC.md."""
    if dtype not in DTYPES:
        raise ArtifactError(f"dtype must be float32 or float64, not {dtype!r}")
    m = copy.deepcopy(model).to(DTYPES[dtype]).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    if isinstance(m.representation, SchNet):
        m.representation.pack_filters()
    scripted = torch.jit.script(ArtifactModule(m)).eval()
    return torch.jit.freeze(scripted)


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

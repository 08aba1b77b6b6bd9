"""The metadata object stored inside every artifact (export/SPEC.md, export/metadata.schema.json)."""

from __future__ import annotations

import copy
import datetime as _dt
import os
from typing import Any

import ase.data

import zoo.ops
from zoo.model import VECTOR_PROPERTIES, AtomisticModel

FORMAT_VERSION = "1.0"
FORMAT_MAJOR = 1
# Format 1.1 adds "operators" (operators beyond PyTorch's that the model calls) and "filter_table"; only
# files that use them carry 1.1, so every other file stays readable by 1.0 readers.
FORMAT_VERSION_OPERATORS = "1.1"
METADATA_FILE = "metadata.json"  # TorchScript extra file
ONNX_METADATA_KEY = "zoo.metadata"  # ONNX metadata_props key

UNITS = {
    "energy": "eV",
    "length": "Angstrom",
    "forces": "eV/Angstrom",
    "virial": "eV",
    "stress": "eV/Angstrom^3",
    "dipole": "e*Angstrom",
}


def _created(created: str | None) -> str:
    if created is not None:
        return created
    epoch = os.environ.get("SOURCE_DATE_EPOCH")  # reproducible builds convention
    now = _dt.datetime.fromtimestamp(int(epoch), _dt.UTC) if epoch else _dt.datetime.now(_dt.UTC)
    return now.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _jsonable(value: Any) -> Any:
    """Plain JSON types only (tensors/numpy scalars -> numbers, tuples -> lists)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    return str(value)


def build_metadata(
    model: AtomisticModel,
    config: dict[str, Any],
    dtype: str,
    encoding: str,
    checkpoint: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
    created: str | None = None,
) -> dict[str, Any]:
    """Everything a consumer needs to know about the model, without running it."""
    from zoo import __version__

    ckpt = checkpoint or {}
    outputs = ["energy", "atom_energies", "forces", "virial", "atom_virial"]
    outputs += [p for p in model.heads if p in VECTOR_PROPERTIES and p == "dipole"]
    hyper = {
        "representation": copy.deepcopy(config.get("representation", {})),
        "head": config.get("head", {}),
    }
    rep_hyper = getattr(model.representation, "hyperparameters", None)
    if rep_hyper:
        hyper["representation"] = {**hyper["representation"], **rep_hyper}
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "zoo_version": __version__,
        "encoding": encoding,
        "model_kind": config["kind"],
        "hyperparameters": hyper,
        "config": config,
        "cutoff": float(model.cutoff),
        "interactions": int(model.n_interactions),
        "receptive_field": float(model.cutoff) * int(model.n_interactions),
        "species": [int(z) for z in model.species],
        "species_symbols": [ase.data.chemical_symbols[int(z)] for z in model.species],
        "units": dict(UNITS),
        "dtype": dtype,
        "outputs": outputs,
        "per_atom_energies": True,
        "properties": list(config.get("properties", [])),
        "energy_property": model.energy_key,
        "provenance": ckpt.get("provenance"),
        "test_errors": ckpt.get("test_errors") or {},
        "training": {k: ckpt[k] for k in ("epoch",) if k in ckpt} or None,
        "source": source,
        "created": _created(created),
        "weights_sha256": None,  # filled in by the writer
    }
    return _jsonable(meta)


def with_filter_table(meta: dict[str, Any], table: dict[str, float]) -> dict[str, Any]:
    """Metadata of an artifact whose SchNet filters are tables (export/SPEC.md "Filter tables")."""
    out = dict(meta)
    out["format_version"] = FORMAT_VERSION_OPERATORS
    out["operators"] = [zoo.ops.OP]
    out["filter_table"] = _jsonable(dict(table))
    return out

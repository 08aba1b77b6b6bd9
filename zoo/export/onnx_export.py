"""ONNX encoding: energy, atom energies, forces and virial (and dipole) in one graph.

The graph is ``zoo.export.graph.traced_artifact`` (energy and its gradient as plain aten operations)
exported with ``torch.onnx.export(dynamo=True)`` with dynamic atom and pair counts; the result is checked
against the TorchScript artifact. Species and distance checks are not in the graph:
``zoo.ase.ZooCalculator`` does them.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.export.checksum import onnx_weights_sha256
from zoo.export.graph import INPUT_NAMES, check_against_torchscript, dynamic_shapes, traced_artifact
from zoo.export.metadata import ONNX_METADATA_KEY
from zoo.export.torchscript import atomic_write
from zoo.model import AtomisticModel

OPSET = 18


def to_onnx(model: AtomisticModel, dtype: str = "float32") -> Any:
    """An onnx.ModelProto computing the outputs of export/SPEC.md (no metadata yet)."""
    traced = traced_artifact(model, dtype, tensor_scalars=True)
    n_atoms = torch.export.Dim("n_atoms", min=1)
    n_pairs = torch.export.Dim("n_pairs", min=0)
    tdt = traced.dtype
    import logging
    import warnings

    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)  # torchvision
    previous = torch.get_default_dtype()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Python scalars in the graph become tensors of the default dtype: keep them in the artifact
        # dtype (float32 would round e.g. pi/rc and log 2 and cost float64 artifacts 1e-8 accuracy)
        torch.set_default_dtype(tdt)
        try:
            program = torch.onnx.export(
                traced.module,
                traced.example,
                input_names=INPUT_NAMES,
                output_names=traced.output_names,
                dynamic_shapes=dynamic_shapes(n_atoms, n_pairs),
                dynamo=True,
                opset_version=OPSET,
                optimize=True,
                verbose=False,
            )
        finally:
            torch.set_default_dtype(previous)
    return program.model_proto


def save_onnx(
    model: AtomisticModel, path: str | Path, metadata: dict[str, Any], dtype: str
) -> dict[str, Any]:
    import onnx

    proto = to_onnx(model, dtype)
    for node in proto.graph.node:  # exporter debug info (FX nodes, stack traces): 90% of the file
        del node.metadata_props[:]
        node.doc_string = ""
    for value in list(proto.graph.value_info) + list(proto.graph.input) + list(proto.graph.output):
        del value.metadata_props[:]
    meta = dict(metadata)
    meta["weights_sha256"] = onnx_weights_sha256(proto)
    _check_against_torchscript(model, proto, dtype)
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key = ONNX_METADATA_KEY
    entry.value = json.dumps(meta, indent=1)
    proto.producer_name = "zoo"
    from zoo import __version__

    proto.producer_version = __version__
    onnx.checker.check_model(proto)
    atomic_write(Path(path), lambda tmp: onnx.save(proto, str(tmp)))
    return meta


def _check_against_torchscript(model: AtomisticModel, proto: Any, dtype: str) -> None:
    import onnxruntime as ort

    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]

    def run(pos: Any, num: Any, ei: Any, sh: Any, n_local: int) -> dict[str, np.ndarray]:
        feeds = {"positions": pos, "numbers": num, "edge_index": ei, "shifts": sh}
        feeds["n_local"] = np.array(n_local, dtype=np.int64)
        return dict(zip(names, sess.run(names, feeds), strict=True))

    check_against_torchscript(model, dtype, run, "ONNX graph")


def onnx_to_bytes(proto: Any) -> bytes:
    buf = io.BytesIO()
    buf.write(proto.SerializeToString())
    return buf.getvalue()

"""The `weights_sha256` rule of export/SPEC.md, shared by the writer and the Python reader.

TorchScript: SHA-256 over the archive's tensor records, i.e. the records whose name (as listed by
``PyTorchStreamReader::getAllRecords``, without the archive's top-level folder) matches
``data/<digits>`` or ``constants/<digits>``, taken in byte-wise sorted name order; for each record
the UTF-8 name bytes, then the record's (uncompressed) content bytes are fed to the hash.

ONNX: SHA-256 over the graph initializers in byte-wise sorted name order; for each the UTF-8 name
bytes, then the tensor's values as contiguous little-endian bytes in its own element type.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch

_TENSOR_RECORD = re.compile(r"^(data|constants)/[0-9]+$")


def is_tensor_record(name: str) -> bool:
    return _TENSOR_RECORD.match(name) is not None


def torchscript_weights_sha256(path: str | Path) -> str:
    """The rule above, for a TorchScript archive on disk (raises RuntimeError if unreadable)."""
    reader = torch._C.PyTorchFileReader(str(path))
    names = sorted((n for n in reader.get_all_records() if is_tensor_record(n)), key=lambda n: n.encode())
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode())
        h.update(reader.get_record(name))
    return h.hexdigest()


def onnx_weights_sha256(model: object) -> str:
    """The rule above, for an ``onnx.ModelProto``."""
    import numpy as np
    from onnx import numpy_helper

    h = hashlib.sha256()
    inits = sorted(model.graph.initializer, key=lambda t: t.name.encode())  # type: ignore[attr-defined]
    for t in inits:
        arr = np.ascontiguousarray(numpy_helper.to_array(t))
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        h.update(t.name.encode())
        h.update(arr.tobytes())
    return h.hexdigest()

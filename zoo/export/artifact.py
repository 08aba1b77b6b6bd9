"""Reading artifacts back (Python side): validation, metadata, evaluation through one interface."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.errors import ArtifactError
from zoo.export.checksum import onnx_weights_sha256, torchscript_weights_sha256
from zoo.export.metadata import FORMAT_MAJOR, METADATA_FILE, ONNX_METADATA_KEY
from zoo.gpu_blas import blas_for_rows
from zoo.model import is_mirror_ordered

_REQUIRED = ("format_version", "zoo_version", "model_kind", "cutoff", "species", "dtype", "outputs")
_NP_DTYPES = {"float32": np.float32, "float64": np.float64}


def _check_version(meta: dict[str, Any], path: Path) -> None:
    fv = meta.get("format_version")
    parts = fv.split(".") if isinstance(fv, str) else []
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ArtifactError(f'artifact {path} has an invalid format_version {fv!r} (expected "MAJOR.MINOR")')
    major = int(parts[0])
    if major > FORMAT_MAJOR:
        from zoo import __version__

        by = meta.get("zoo_version", "a newer version")
        raise ArtifactError(
            f"artifact {path} has format version {fv}, newer than this zoo {__version__} reads "
            f"({FORMAT_MAJOR}.x); it was exported by zoo {by}: install zoo {by} or newer to use it"
        )
    if major < 1:
        raise ArtifactError(f"artifact {path} has unsupported format version {fv}")
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise ArtifactError(f"artifact {path} metadata lacks the required field(s) {', '.join(missing)}")


def _check_operators(meta: dict[str, Any], path: Path, device: str) -> None:
    """Format 1.1 "operators": refuse a file that needs an operator this zoo lacks; load the fused CPU
    kernels of the ones it has (zoo/ops.py)."""
    from zoo import ops

    needed = meta.get("operators") or []
    if not isinstance(needed, list) or not all(isinstance(o, str) for o in needed):
        raise ArtifactError(f"artifact {path} has an invalid 'operators' member (expected a list of names)")
    unknown = [o for o in needed if o not in ops.PROVIDED]
    if unknown:
        from zoo import __version__

        by = meta.get("zoo_version", "a newer version")
        raise ArtifactError(
            f"artifact {path} needs the operator {', '.join(unknown)}, which zoo {__version__} does not "
            f"provide; it was exported by zoo {by}: install zoo {by} or newer to use it"
        )
    if needed and device.startswith("cpu"):
        ops.load_kernels()


def _parse(text: bytes | str, path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise ArtifactError(f"artifact {path} has metadata that is not valid JSON") from None
    if not isinstance(meta, dict):
        raise ArtifactError(f"artifact {path} has metadata that is not a JSON object")
    return meta


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata object of a .pt or .onnx artifact, without loading or checking the model."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"artifact {path} does not exist")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic[:2] == b"PK":
        try:
            reader = torch._C.PyTorchFileReader(str(path))
            has = reader.has_record("extra/" + METADATA_FILE)
            text = reader.get_record("extra/" + METADATA_FILE) if has else None
        except RuntimeError:
            raise ArtifactError(
                f"artifact {path} is corrupt: it cannot be read as a TorchScript or AOTInductor archive"
            ) from None
        if text is None:
            raise ArtifactError(f"artifact {path} has no zoo metadata: it was not written by `zoo export`")
        return _parse(text, path)
    model = _load_onnx(path)
    for prop in model.metadata_props:
        if prop.key == ONNX_METADATA_KEY:
            return _parse(prop.value, path)
    raise ArtifactError(f"artifact {path} has no zoo metadata: it was not written by `zoo export`")


def _load_onnx(path: Path) -> Any:
    try:
        import onnx
    except ImportError:
        raise ArtifactError(
            f"artifact {path} is not a TorchScript archive and the onnx package is missing"
        ) from None
    try:
        return onnx.load(str(path))
    except Exception:  # noqa: BLE001 - protobuf raises several types for garbage
        raise ArtifactError(
            f"artifact {path} is corrupt: it is neither a TorchScript archive nor ONNX"
        ) from None


class Artifact:
    """A loaded, verified artifact. ``compute`` evaluates the SPEC.md call signature on numpy input."""

    def __init__(self, path: Path, metadata: dict[str, Any], encoding: str, runner: Any, device: str) -> None:
        self.path = path
        self.metadata = metadata
        self.encoding = encoding
        self.device = device
        self._runner = runner
        self.cutoff = float(metadata["cutoff"])
        self.species = [int(z) for z in metadata["species"]]
        self.dtype = str(metadata["dtype"])
        self.outputs = list(metadata["outputs"])
        # TorchScript: a graph without autograd (SchNet's forces written out, zoo.explicit_forces) runs in
        # inference mode, which skips autograd's bookkeeping; forward_unchecked where callers checked
        self.grad_free = encoding == "torchscript" and "aten::grad" not in str(runner.forward.graph)
        self.has_unchecked = encoding == "torchscript" and hasattr(runner, "forward_unchecked")

    @property
    def module(self) -> torch.jit.ScriptModule:
        if self.encoding != "torchscript":
            raise ArtifactError(f"artifact {self.path} is {self.encoding}; it has no TorchScript module")
        return self._runner

    def compute(
        self,
        positions: Any,
        numbers: Any,
        edge_index: Any,
        shifts: Any,
        n_local: int | None = None,
        checked: bool = False,
    ) -> dict[str, np.ndarray]:
        """Outputs of the artifact as float64 numpy arrays (energy is a 0-d array). ``checked``: the caller
        has made the artifact's input checks itself (supported elements, finite positions, no two atoms
        closer than 0.1 Å, as zoo.ase.ZooCalculator does); a TorchScript artifact then skips them
        (``forward_unchecked``, export/SPEC.md) when every atom is local and the pairs are mirror-ordered."""
        n = len(numbers)
        n_local = n if n_local is None else int(n_local)
        npdt = _NP_DTYPES[self.dtype]
        pos = np.ascontiguousarray(positions, dtype=npdt).reshape(n, 3)
        num = np.ascontiguousarray(numbers, dtype=np.int64).reshape(n)
        ei = np.ascontiguousarray(edge_index, dtype=np.int64).reshape(2, -1)
        sh = np.ascontiguousarray(shifts, dtype=npdt).reshape(-1, 3)
        if self.encoding == "torchscript":
            dev = torch.device(self.device)
            ei_t, sh_t = torch.from_numpy(ei), torch.from_numpy(sh)
            unchecked = checked and self.has_unchecked and n_local == n and is_mirror_ordered(ei_t, sh_t)
            with torch.inference_mode() if self.grad_free else torch.enable_grad(), blas_for_rows(dev, n):
                args = [t.to(dev) for t in (torch.from_numpy(pos), torch.from_numpy(num), ei_t, sh_t)]
                if unchecked:
                    out = self._runner.forward_unchecked(*args)
                else:
                    out = self._runner(*args, n_local)
            return {k: v.detach().cpu().numpy().astype(np.float64) for k, v in out.items()}
        if self.encoding == "aoti":
            return self._compute_aoti(pos, num, ei, sh, n_local)
        feeds = {
            "positions": pos,
            "numbers": num,
            "edge_index": ei,
            "shifts": sh,
            "n_local": np.array(n_local),
        }
        names = [o.name for o in self._runner.get_outputs()]
        values = self._runner.run(names, feeds)
        return {k: np.asarray(v, dtype=np.float64) for k, v in zip(names, values, strict=True)}

    def _compute_aoti(
        self, pos: np.ndarray, num: np.ndarray, ei: np.ndarray, sh: np.ndarray, n_local: int
    ) -> dict[str, np.ndarray]:
        from zoo.neighbors import mirror_order

        edge_index, shifts = torch.from_numpy(ei), torch.from_numpy(sh)
        if not is_mirror_ordered(edge_index, shifts):  # the compiled graph assumes mirror order
            edge_index, shifts = mirror_order(edge_index, shifts)
        pos_t, num_t = torch.from_numpy(pos), torch.from_numpy(num)
        out = self._runner(pos_t, num_t, edge_index, shifts, torch.tensor(n_local))
        return {k: v.detach().numpy().astype(np.float64) for k, v in zip(self.outputs, out, strict=True)}


def _encoding(path: Path) -> str:
    with open(path, "rb") as fh:
        if fh.read(2) != b"PK":
            return "onnx"
    from zoo.export.aoti import is_aoti_archive

    return "aoti" if is_aoti_archive(path) else "torchscript"


def _load_aoti(path: Path, meta: dict[str, Any], device: str, verify: bool) -> Artifact:
    from zoo.export.aoti import aoti_weights_sha256, check_compiled, load_package

    if not device.startswith("cpu"):
        raise ArtifactError(f"artifact {path} is compiled for the CPU; on {device} use the TorchScript one")
    check_compiled(meta, path)
    if verify:
        _verify(path, meta, aoti_weights_sha256)
    try:
        runner = load_package(path)
    except Exception as exc:  # noqa: BLE001
        raise ArtifactError(
            f"artifact {path} cannot be loaded by AOTInductor ({type(exc).__name__})"
        ) from exc
    return Artifact(path, meta, "aoti", runner, device)


def _verify(path: Path, meta: dict[str, Any], digest: Any) -> None:
    want = meta.get("weights_sha256")
    if not want:
        raise ArtifactError(f"artifact {path} has no weights_sha256 in its metadata; it cannot be verified")
    try:
        got = digest(path)
    except RuntimeError:
        raise ArtifactError(f"artifact {path} is corrupt: its records cannot be read") from None
    if got != want:
        raise ArtifactError(
            f"artifact {path} is corrupt or was modified after export: "
            "the SHA-256 of its weights does not match the metadata"
        )


def load_artifact(path: str | Path, device: str = "cpu", verify: bool = True) -> Artifact:
    """Load a .pt (TorchScript), .onnx or .pt2 (AOTInductor) artifact after checking version, metadata
    and checksum.

    Every problem raises :class:`zoo.errors.ArtifactError` with one sentence.
    """
    path = Path(path)
    meta = read_metadata(path)
    _check_version(meta, path)
    _check_operators(meta, path, device)
    encoding = _encoding(path)
    if encoding == "aoti":
        return _load_aoti(path, meta, device, verify)
    if encoding == "torchscript":
        if verify:
            _verify(path, meta, torchscript_weights_sha256)
        try:
            module = torch.jit.load(str(path), map_location=device)
        except Exception:  # noqa: BLE001
            raise ArtifactError(f"artifact {path} is corrupt: TorchScript cannot load it") from None
        module.eval()
        return Artifact(path, meta, encoding, module, device)

    model = _load_onnx(path)
    if verify:
        _verify(path, meta, lambda _: onnx_weights_sha256(model))
    try:
        import onnxruntime as ort
    except ImportError:
        raise ArtifactError(f"artifact {path} is ONNX but onnxruntime is not installed") from None
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    opts = ort.SessionOptions()
    threads = torch.get_num_threads()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(model.SerializeToString(), sess_options=opts, providers=providers)
    except Exception as exc:  # noqa: BLE001
        raise ArtifactError(
            f"artifact {path} cannot be loaded by ONNX Runtime ({type(exc).__name__})"
        ) from None
    return Artifact(path, meta, encoding, session, device)

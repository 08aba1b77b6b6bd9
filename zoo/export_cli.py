"""`zoo export CKPT -o model.pt [--format torchscript|onnx] [--dtype float32|float64]`."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a checkpoint as a self-describing artifact (TorchScript .pt or ONNX .onnx)",
        description="Export a trained checkpoint as one versioned file that ASE, the C++ runtime and "
        "LAMMPS load (export/SPEC.md).",
    )
    p.add_argument("checkpoint", help="trainer checkpoint, e.g. RUN/best.ckpt")
    p.add_argument("-o", "--output", required=True, help="artifact to write (.pt or .onnx)")
    p.add_argument(
        "--format",
        choices=("torchscript", "onnx"),
        default=None,
        help="encoding (default: from the output suffix, .onnx -> onnx, otherwise torchscript)",
    )
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="artifact precision")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from zoo.export import export_checkpoint

    out = Path(args.output)
    fmt = args.format or ("onnx" if out.suffix.lower() == ".onnx" else "torchscript")
    meta = export_checkpoint(args.checkpoint, out, fmt=fmt, dtype=args.dtype)
    print(
        f"wrote {out} ({fmt}, {meta['dtype']}, {meta['model_kind']}, cutoff {meta['cutoff']} Å, "
        f"species {','.join(meta['species_symbols'])}, weights sha256 {meta['weights_sha256'][:12]}…)"
    )
    return 0

"""`zoo export CKPT -o model.pt [--format torchscript|onnx|aoti] [--dtype float32|float64] [--isa ISA]`."""

from __future__ import annotations

import argparse
from pathlib import Path

_SUFFIX_FORMAT = {".onnx": "onnx", ".pt2": "aoti"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a checkpoint as a self-describing artifact (TorchScript .pt, ONNX .onnx, "
        "AOTInductor .pt2)",
        description="Export a trained checkpoint as one versioned file that ASE, the C++ runtime and "
        "LAMMPS load (export/SPEC.md).",
    )
    p.add_argument("checkpoint", help="trainer checkpoint, e.g. RUN/best.ckpt")
    p.add_argument("-o", "--output", required=True, help="artifact to write (.pt, .onnx or .pt2)")
    p.add_argument(
        "--format",
        choices=("torchscript", "onnx", "aoti"),
        default=None,
        help="encoding (default: from the output suffix, .onnx -> onnx, .pt2 -> aoti, otherwise torchscript)",
    )
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="artifact precision")
    p.add_argument(
        "--isa",
        choices=("avx2", "avx512", "native"),
        default="avx2",
        help="aoti only: instruction set of the compiled library (default avx2: any x86-64 CPU since "
        "about 2015; avx512 is faster where present; native: this CPU only)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="aoti only: threads the kernels are compiled for (default 1: sequential kernels, fastest per "
        "core, e.g. one per LAMMPS MPI rank; N > 1 compiles OpenMP kernels)",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from zoo.export import export_checkpoint

    out = Path(args.output)
    fmt = args.format or _SUFFIX_FORMAT.get(out.suffix.lower(), "torchscript")
    meta = export_checkpoint(
        args.checkpoint, out, fmt=fmt, dtype=args.dtype, isa=args.isa, threads=args.threads
    )
    compiled = f", {meta['compiled']['isa']}" if "compiled" in meta else ""
    print(
        f"wrote {out} ({fmt}{compiled}, {meta['dtype']}, {meta['model_kind']}, cutoff {meta['cutoff']} Å, "
        f"species {','.join(meta['species_symbols'])}, weights sha256 {meta['weights_sha256'][:12]}…)"
    )
    return 0

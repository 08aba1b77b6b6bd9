"""`zoo export CKPT -o model.pt [--format torchscript|onnx|aoti] [--dtype float32|float64] [--isa ISA]
[--filter-table N]`."""

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
    p.add_argument(
        "--filter-table",
        type=int,
        default=0,
        metavar="N",
        help="SchNet, .pt and .pt2: replace the filter networks by cubic tables on N intervals of "
        "[0, cutoff] (e.g. 512; the largest deviation is stored in the metadata and printed). The C++ "
        "runtime and LAMMPS then run one fused operator per block, several times faster on large systems "
        "(export/SPEC.md, Filter tables). Default 0: the networks as trained",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from zoo.export import export_checkpoint

    out = Path(args.output)
    fmt = args.format or _SUFFIX_FORMAT.get(out.suffix.lower(), "torchscript")
    meta = export_checkpoint(
        args.checkpoint,
        out,
        fmt=fmt,
        dtype=args.dtype,
        isa=args.isa,
        threads=args.threads,
        filter_table=args.filter_table,
    )
    compiled = f", {meta['compiled']['isa']}" if "compiled" in meta else ""
    print(
        f"wrote {out} ({fmt}{compiled}, {meta['dtype']}, {meta['model_kind']}, cutoff {meta['cutoff']} Å, "
        f"species {','.join(meta['species_symbols'])}, weights sha256 {meta['weights_sha256'][:12]}…)"
    )
    if "filter_table" in meta:
        t = meta["filter_table"]
        print(
            f"filter table: {t['intervals']} intervals of {t['step']:.4g} Å, largest deviation from the "
            f"filter networks {t['max_abs_error']:.2g} (values, filters up to {t['max_abs_filter']:.2g}), "
            f"{t['max_abs_slope_error']:.2g} /Å (slopes)"
        )
    return 0

"""`zoo data info|import|prepare`: inspect, import and download datasets."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from zoo.errors import DataError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("data", help="inspect, import and download datasets")
    sub = parser.add_subparsers(dest="data_command", required=True)

    info = sub.add_parser("info", help="describe a zoo HDF5 dataset")
    info.add_argument("file", type=Path)
    info.set_defaults(func=_info)

    from zoo.data.io import FORMATS

    imp = sub.add_parser("import", help="convert ASE db / extxyz / MD17 npz / DeePMD data to zoo HDF5")
    imp.add_argument("--format", required=True, choices=FORMATS)
    imp.add_argument("src", type=Path)
    imp.add_argument("-o", "--out", required=True, type=Path)
    imp.add_argument(
        "--properties",
        default=None,
        help="comma-separated properties, each NAME or NAME=SOURCE_KEY (default: all the source has)",
    )
    imp.add_argument(
        "--units",
        default=None,
        help="comma-separated NAME=UNIT of the source where it does not say, e.g. energy=Ha",
    )
    imp.add_argument(
        "--per-atom", default="", help="comma-separated properties with one row per atom (besides forces)"
    )
    imp.add_argument("--compression", default=None, choices=["gzip", "lzf"])
    imp.set_defaults(func=_import)

    from zoo.datasets.cli import register_prepare

    register_prepare(sub)


def _pairs(text: str | None) -> dict[str, str] | None:
    if text is None:
        return None
    out: dict[str, str] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, _, key = item.partition("=")
        out[name.strip()] = key.strip() or name.strip()
    return out


def _info(args: argparse.Namespace) -> int:
    from zoo.data.dataset import AtomsDataset

    ds = AtomsDataset(args.file)
    size = args.file.stat().st_size
    attrs = ds.attrs
    n_atoms = ds.n_atoms
    print(f"file        {args.file} ({_human(size)})")
    print(f"format      {attrs.get('format', '?')} version {attrs.get('format_version', '?')}")
    print(
        f"structures  {len(ds)} ({int(n_atoms.sum())} atoms, "
        f"{int(n_atoms.min())}-{int(n_atoms.max())} per structure)"
    )
    print(f"elements    {', '.join(_symbol(z) for z in ds.elements)}")
    print("properties")
    for name, unit in ds.units.items():
        kind = "per-atom" if ds.is_per_atom(name) else "per-structure"
        print(f"  {name:<28} {unit or '-':<12} {kind}")
    for key in sorted(attrs):
        if key not in ("format", "format_version"):
            print(f"{key:<11} {attrs[key]}")
    ds.close()
    return 0


def _import(args: argparse.Namespace) -> int:
    from zoo.data.io import import_file

    units = _pairs(args.units)
    props = _pairs(args.properties)
    if units is not None and any(k == v for k, v in units.items()):
        raise DataError("--units needs NAME=UNIT pairs, e.g. energy=kcal/mol.")
    ds = import_file(
        args.format,
        args.src,
        args.out,
        properties=props,
        units=units,
        per_atom=[p for p in args.per_atom.split(",") if p],
        compression=args.compression,
        show_progress=True,
    )
    print(f"wrote {args.out}: {len(ds)} structures, properties {ds.units}")
    return 0


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _symbol(z: int) -> str:
    from ase.data import chemical_symbols

    return chemical_symbols[z]

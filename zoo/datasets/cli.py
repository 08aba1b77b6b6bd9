"""`zoo data prepare {qm9,md17,rmd17,iso17,ani1,mp} --root DIR`: download and convert a public dataset."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from zoo.errors import DataError

DATASETS = ("qm9", "md17", "rmd17", "iso17", "ani1", "mp")


def register_prepare(sub: Any) -> None:
    p = sub.add_parser("prepare", help="download a public dataset and convert it to zoo HDF5 (once)")
    p.add_argument("dataset", choices=DATASETS)
    p.add_argument(
        "--root", type=Path, required=True, help="folder holding raw downloads and converted files"
    )
    p.add_argument("--molecule", default="ethanol", help="md17/rmd17: molecule name")
    p.add_argument("--fold", default="reference", help="iso17: reference, test_within, test_other, ...")
    p.add_argument("--variant", default="ani1", choices=["ani1", "ani1x"], help="ani1: ANI-1 or ANI-1x")
    p.add_argument("--heavy-atoms", default="1,2,3,4,5,6,7,8", help="ani1: which ani_gdb_s0N files")
    p.add_argument(
        "--source", default="auto", choices=["auto", "figshare", "qm9pack"], help="qm9: data route"
    )
    p.add_argument("--keep-uncharacterized", action="store_true", help="qm9: keep the 3,054 molecules")
    p.add_argument("--max-structures", type=int, default=None, help="mp: stop after this many structures")
    p.add_argument("--criteria", default="", help="mp: comma-separated KEY=VALUE query parameters")
    p.add_argument("--no-download", action="store_true", help="use only files already under --root")
    p.add_argument("--url", action="append", default=[], metavar="KEY=URL", help="override an upstream URL")
    p.set_defaults(func=_prepare)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise DataError(f"{what} needs KEY=VALUE, got {item!r}.")
        out[key.strip()] = value.strip()
    return out


def build(args: argparse.Namespace) -> Any:
    from zoo.datasets import ANI1, ISO17, MD17, QM9, MaterialsProject

    common: dict[str, Any] = {"download": not args.no_download, "urls": _pairs(args.url, "--url")}
    name = args.dataset
    if name == "qm9":
        return QM9(
            args.root, remove_uncharacterized=not args.keep_uncharacterized, source=args.source, **common
        )
    if name in ("md17", "rmd17"):
        return MD17(args.root, molecule=args.molecule, revised=name == "rmd17", **common)
    if name == "iso17":
        return ISO17(args.root, fold=args.fold, **common)
    if name == "ani1":
        heavy = [int(x) for x in args.heavy_atoms.split(",") if x.strip()]
        return ANI1(args.root, variant=args.variant, heavy_atoms=heavy, **common)
    from zoo.datasets.mp import API_URL

    criteria = _pairs([c for c in args.criteria.split(",") if c], "--criteria")
    api_url = common.pop("urls").get("api", API_URL)
    return MaterialsProject(
        args.root, criteria=criteria, max_structures=args.max_structures, api_url=api_url, **common
    )


def _prepare(args: argparse.Namespace) -> int:
    ds = build(args).prepare()
    print(f"{ds.path}: {len(ds)} structures, properties {ds.units}")
    return 0

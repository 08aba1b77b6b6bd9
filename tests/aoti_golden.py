"""AOTInductor (.pt2) builds of the export/golden models, compiled once per test session (~25 s each).

The weights are those of export/make_golden.py, so every .pt2 must reproduce the stored golden vectors
of its kind and dtype (``<kind>_<case>_<dtype>.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from golden import make_golden

BUILDS = (("schnet", "float64"), ("schnet", "float32"), ("acsf", "float32"), ("wacsf", "float64"))


def build(out: Path) -> dict[str, Path]:
    """{"<kind>_<dtype>": path} for BUILDS, exported for an instruction set this machine runs."""
    from zoo.export import export_model
    from zoo.export.aoti import host_isas

    mg = make_golden()
    mol_pos, mol_num = mg.molecule()
    per_pos, per_num, per_cell = mg.triclinic_water()
    fit = [(mol_pos, mol_num, None, [False] * 3), (per_pos, per_num, per_cell, [True] * 3)]
    isa = "avx2" if "avx2" in host_isas() else "native"
    paths = {}
    for kind, dtype in BUILDS:
        model, cfg = mg.seeded_model(kind, mg.SPECIES, 3.0, mg.KINDS.index(kind), fit)
        path = out / f"{kind}_{dtype}.pt2"
        export_model(model, cfg, path, fmt="aoti", dtype=dtype, created=mg.CREATED, isa=isa)
        paths[f"{kind}_{dtype}"] = path
    return paths


def rewrite(
    src: Path, dst: Path, metadata: dict | None = None, records: dict[str, bytes] | None = None
) -> None:
    """Copy a .pt2 archive, replacing its metadata.json object and/or records (tests of the readers)."""
    reader = torch._C.PyTorchFileReader(str(src))
    writer = torch._C.PyTorchFileWriter(str(dst))
    for name in reader.get_all_records():
        if name in (".data/version", ".data/serialization_id"):
            continue
        data = reader.get_record(name)
        if name == "extra/metadata.json" and metadata is not None:
            data = json.dumps(metadata).encode()
        if records and name in records:
            data = records[name]
        writer.write_record(name, data, len(data))
    writer.write_end_of_file()
    del writer

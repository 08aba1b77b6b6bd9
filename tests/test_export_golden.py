"""Golden vectors (export/golden): artifacts reproduce their expected outputs; TorchScript, eager and ONNX
agree; make_golden.py reproduces the shipped files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from golden import GOLDEN
from golden import assert_close as _close
from golden import inputs as _inputs
from golden import make_golden as _make_golden

from zoo.export import load_artifact, read_metadata

CASES = sorted(p for p in GOLDEN.glob("*.json"))


pytestmark = pytest.mark.usefixtures("one_thread")


def test_golden_folder_is_complete_and_small() -> None:
    names = {p.name for p in GOLDEN.iterdir()}
    for kind in ("schnet", "acsf", "wacsf"):
        for case in ("molecule", "periodic", "ghost"):
            for dtype in ("float32", "float64"):
                assert f"{kind}_{case}_{dtype}.pt" in names and f"{kind}_{case}_{dtype}.json" in names
        assert f"{kind}_molecule_float32.onnx" in names
    assert "schnet_water_float64.pt" in names
    assert "schnet_water_table_float64.pt" in names and "schnet_water_table_float64.json" in names
    table = read_metadata(GOLDEN / "schnet_water_table_float64.pt")  # format 1.1: needs zoo::cfconv_tab
    assert table["format_version"] == "1.1" and table["operators"] == ["zoo::cfconv_tab"]
    assert table["filter_table"]["intervals"] == 512 and table["filter_table"]["max_abs_error"] < 1e-7
    assert sum(p.stat().st_size for p in GOLDEN.iterdir()) < 3_000_000


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_golden_artifact_reproduces_expected(case: Path) -> None:
    doc = json.loads(case.read_text())
    assert set(doc) == {"artifact", "inputs", "expected"}
    assert set(doc["inputs"]) == {"positions", "numbers", "cell", "pbc", "edge_index", "shifts", "n_local"}
    assert set(doc["expected"]) == {"energy", "atom_energies", "forces", "virial"}
    art = load_artifact(GOLDEN / doc["artifact"])
    out = art.compute(*_inputs(doc))
    for key, want in doc["expected"].items():
        _close(out[key], want, art.dtype, f"{case.name}:{key}")
    n_local = doc["inputs"]["n_local"]
    assert float(out["energy"]) == pytest.approx(float(out["atom_energies"][:n_local].sum()), rel=1e-5)


@pytest.mark.parametrize("kind", ["schnet", "acsf", "wacsf"])
def test_ghost_case_equals_periodic(kind: str) -> None:
    per = json.loads((GOLDEN / f"{kind}_periodic_float64.json").read_text())
    gho = json.loads((GOLDEN / f"{kind}_ghost_float64.json").read_text())
    n = per["inputs"]["n_local"]
    assert gho["inputs"]["n_local"] == n < len(gho["inputs"]["numbers"])
    assert not np.any(gho["inputs"]["shifts"])
    assert gho["expected"]["energy"] == pytest.approx(per["expected"]["energy"], rel=1e-10)
    np.testing.assert_allclose(
        gho["expected"]["atom_energies"][:n], per["expected"]["atom_energies"], atol=1e-10
    )


@pytest.mark.parametrize("kind", ["schnet", "acsf", "wacsf"])
def test_torchscript_eager_onnx_agree(kind: str) -> None:
    """float32: TorchScript golden vs the eager model rebuilt by make_golden vs ONNX, 1e-5 relative."""
    mg = _make_golden()
    mol_pos, mol_num = mg.molecule()
    per_pos, per_num, per_cell = mg.triclinic_water()
    fit = [(mol_pos, mol_num, None, [False] * 3), (per_pos, per_num, per_cell, [True] * 3)]
    model, _ = mg.seeded_model(kind, mg.SPECIES, 3.0, mg.KINDS.index(kind), fit)
    onnx_art = load_artifact(GOLDEN / f"{kind}_molecule_float32.onnx")
    assert onnx_art.encoding == "onnx"
    for case in ("molecule", "periodic"):
        doc = json.loads((GOLDEN / f"{kind}_{case}_float32.json").read_text())
        pos, num, ei, sh, n_local = _inputs(doc)
        eager = model.float()(
            torch.from_numpy(num),
            torch.from_numpy(pos).float(),
            torch.from_numpy(ei),
            torch.from_numpy(sh).float(),
            torch.zeros(len(num), dtype=torch.long),
            1,
            torch.ones(len(num)),
            True,
            True,
        )
        onnx_out = onnx_art.compute(pos, num, ei, sh, n_local)
        for key in ("energy", "forces", "virial"):
            want = doc["expected"][key]
            _close(eager[key].detach().double().numpy(), want, "float32", f"eager {kind} {case} {key}")
            _close(onnx_out[key], want, "float32", f"onnx {kind} {case} {key}")
        _close(onnx_out["atom_energies"], doc["expected"]["atom_energies"], "float32", "onnx atom energies")


def test_make_golden_reproduces_shipped_files(tmp_path: Path) -> None:
    mg = _make_golden()
    mg.make(tmp_path, onnx=False, verbose=False)
    for shipped in CASES:
        new = json.loads((tmp_path / shipped.name).read_text())
        old = json.loads(shipped.read_text())
        assert new["inputs"] == old["inputs"], shipped.name
        dtype = "float32" if "float32" in shipped.name else "float64"
        for key in old["expected"]:
            _close(new["expected"][key], old["expected"][key], dtype, f"{shipped.name}:{key}")
        # same model description; weights_sha256 is not compared: freezing folds constants computed by the
        # model code (e.g. concatenated filter weights), so it follows zoo.nn changes, not only the weights
        meta_new = read_metadata(tmp_path / old["artifact"])
        meta_old = read_metadata(GOLDEN / old["artifact"])
        for key in ("config", "species", "cutoff", "interactions", "dtype", "outputs", "created"):
            assert meta_new[key] == meta_old[key], (shipped.name, key)

"""AOTInductor artifacts (.pt2): the golden vectors through Python, ASE and the C++ runtime; the reader's
refusals (corrupt, modified, foreign instruction set or machine, GPU); pair order."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch
from aoti_golden import BUILDS, rewrite
from cpp_build import cmake_build  # noqa: F401  (cmake_build is a fixture)
from golden import GOLDEN, REPO
from golden import assert_close as _close
from golden import inputs as _inputs

from zoo.errors import ArtifactError, ModelError
from zoo.export import load_artifact, read_metadata
from zoo.export.aoti import AOTI_PREFIX, aoti_weights_sha256

SCHEMA = json.loads((REPO / "export" / "metadata.schema.json").read_text())
NAMES = [f"{k}_{d}" for k, d in BUILDS]


def _golden(name: str, case: str) -> dict:
    kind, dtype = name.split("_")
    return json.loads((GOLDEN / f"{kind}_{case}_{dtype}.json").read_text())


@pytest.mark.parametrize("case", ["molecule", "periodic", "ghost"])
@pytest.mark.parametrize("name", NAMES)
def test_aoti_reproduces_golden_vectors(aoti_golden, name: str, case: str) -> None:
    """Same weights as the TorchScript goldens -> the stored outputs, within the SPEC tolerances. The
    golden pair lists are sorted, not mirror-ordered: the reader reorders them for the compiled graph."""
    art = load_artifact(aoti_golden[name])
    assert art.encoding == "aoti"
    doc = _golden(name, case)
    out = art.compute(*_inputs(doc))
    for key, want in doc["expected"].items():
        _close(out[key], want, art.dtype, f"{name} {case}: {key}")
    # outputs the goldens do not store: the per-atom virial sums to the virial
    np.testing.assert_allclose(out["atom_virial"].sum(0), out["virial"], atol=1e-9 if "64" in name else 1e-4)


def test_aoti_metadata_and_checksum(aoti_golden) -> None:
    path = aoti_golden["schnet_float32"]
    meta = read_metadata(path)
    jsonschema.validate(meta, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert meta["encoding"] == "aoti"
    assert meta["compiled"]["device"] == "cpu" and meta["compiled"]["threads"] == 1
    assert meta["compiled"]["isa"] in ("avx2", "native")
    assert meta["weights_sha256"] == aoti_weights_sha256(path)
    assert load_artifact(path).metadata == meta
    # the same model as the TorchScript golden: identical contract fields
    ts = read_metadata(GOLDEN / "schnet_periodic_float32.pt")
    for key in ("model_kind", "cutoff", "species", "dtype", "outputs", "interactions", "config"):
        assert meta[key] == ts[key], key


def test_aoti_pair_order_is_free(aoti_golden) -> None:
    art = load_artifact(aoti_golden["schnet_float64"])
    pos, num, ei, sh, n_local = _inputs(_golden("schnet_float64", "periodic"))
    ref = art.compute(pos, num, ei, sh, n_local)
    perm = np.random.default_rng(0).permutation(ei.shape[1])
    out = art.compute(pos, num, ei[:, perm], sh[perm], n_local)
    for key in ("energy", "forces", "virial", "atom_virial"):
        np.testing.assert_allclose(out[key], ref[key], rtol=1e-10, atol=1e-12)
    with pytest.raises(ModelError, match="both directions"):
        art.compute(pos, num, ei[:, 1:], sh[1:], n_local)
    # called directly (no zoo reader in between), the compiled graph refuses a list in another order
    from zoo.export.aoti import load_package

    args = [torch.from_numpy(pos), torch.from_numpy(num), torch.from_numpy(ei), torch.from_numpy(sh)]
    with pytest.raises(RuntimeError, match="not mirror-ordered"):
        load_package(aoti_golden["schnet_float64"])(*args, torch.tensor(n_local))


def test_aoti_ase_calculator_matches_torchscript(aoti_golden) -> None:
    from ase import Atoms

    from zoo.ase import ZooCalculator

    inp = _golden("schnet_float64", "periodic")["inputs"]
    atoms = Atoms(numbers=inp["numbers"], positions=inp["positions"], cell=inp["cell"], pbc=inp["pbc"])
    res = {}
    for path in (aoti_golden["schnet_float64"], GOLDEN / "schnet_periodic_float64.pt"):
        a = atoms.copy()
        a.calc = ZooCalculator(path)
        res[path.suffix] = (a.get_potential_energy(), a.get_forces(), a.get_stress())
    for got, want in zip(res[".pt2"], res[".pt"], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_aoti_refuses_corrupt_modified_and_foreign(aoti_golden, tmp_path: Path, monkeypatch) -> None:
    src = aoti_golden["schnet_float32"]
    meta = read_metadata(src)

    truncated = tmp_path / "truncated.pt2"
    truncated.write_bytes(src.read_bytes()[:5000])
    with pytest.raises(ArtifactError, match="corrupt"):
        load_artifact(truncated)

    reader = torch._C.PyTorchFileReader(str(src))
    lib = next(n for n in reader.get_all_records() if n.startswith(AOTI_PREFIX) and n.endswith(".so"))
    data = bytearray(reader.get_record(lib))
    data[len(data) // 2] ^= 0xFF
    modified = tmp_path / "modified.pt2"
    rewrite(src, modified, records={lib: bytes(data)})
    with pytest.raises(ArtifactError, match="modified after export"):
        load_artifact(modified)

    arm = tmp_path / "arm.pt2"
    rewrite(src, arm, metadata={**meta, "compiled": {**meta["compiled"], "machine": "aarch64"}})
    with pytest.raises(ArtifactError, match="compiled for aarch64"):
        load_artifact(arm)

    wide = tmp_path / "wide.pt2"
    rewrite(src, wide, metadata={**meta, "compiled": {**meta["compiled"], "isa": "avx512"}})
    monkeypatch.setattr("zoo.export.aoti.host_isas", lambda: ["avx2", "native"])
    with pytest.raises(ArtifactError, match="avx512 instruction set, which this CPU lacks"):
        load_artifact(wide)

    with pytest.raises(ArtifactError, match="compiled for the CPU"):
        load_artifact(src, device="cuda")


def test_aoti_export_refuses_bad_options(tmp_path: Path) -> None:
    from zoo.export import export_model
    from zoo.model import build_model, default_config

    cfg = default_config("schnet", [1, 8], ["energy", "forces"], 3.0)
    model = build_model(cfg)
    with pytest.raises(ArtifactError, match="unknown instruction set"):
        export_model(model, cfg, tmp_path / "m.pt2", fmt="aoti", isa="sse2")
    with pytest.raises(ArtifactError, match="threads must be at least 1"):
        export_model(model, cfg, tmp_path / "m.pt2", fmt="aoti", threads=0)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_aoti_export_for_a_foreign_isa_warns(tmp_path: Path, monkeypatch) -> None:
    """Exporting for an instruction set the exporting CPU lacks skips the TorchScript check, and says so;
    the archive is still complete, named after the file (its top folder), and verifiable."""
    import zipfile

    from zoo.export import export_model
    from zoo.model import build_model, default_config

    cfg = default_config("schnet", [1, 8], ["energy", "forces"], 3.0)
    cfg["representation"].update(n_atom_basis=8, n_interactions=1, n_rbf=6)
    monkeypatch.setattr("zoo.export.aoti.host_isas", lambda: ["native"])
    with pytest.warns(UserWarning, match="without the check against TorchScript"):
        meta = export_model(build_model(cfg), cfg, tmp_path / "far.pt2", fmt="aoti", isa="avx2")
    assert meta["compiled"]["isa"] == "avx2"
    assert {n.split("/")[0] for n in zipfile.ZipFile(tmp_path / "far.pt2").namelist()} == {"far"}
    assert aoti_weights_sha256(tmp_path / "far.pt2") == read_metadata(tmp_path / "far.pt2")["weights_sha256"]


# ------------------------------------------------------------------------------------------ C++ runtime
def _zoo_run(build: Path, artifact: Path, xyz: Path) -> subprocess.CompletedProcess:
    exe = build / "cpp_runtime" / "zoo-run"
    return subprocess.run([str(exe), str(artifact), str(xyz), "--json"], capture_output=True, text=True)


@pytest.mark.cpp
def test_zoo_run_aoti_matches_torchscript(cmake_build, aoti_golden, tmp_path: Path) -> None:  # noqa: F811
    """zoo-run (own cell list, mirror-ordered) on the .pt2 and on the TorchScript golden of the same model."""
    from ase import Atoms
    from ase.io import write

    inp = _golden("wacsf_float64", "periodic")["inputs"]
    atoms = Atoms(numbers=inp["numbers"], positions=inp["positions"], cell=inp["cell"], pbc=inp["pbc"])
    xyz = tmp_path / "cell.xyz"
    write(xyz, atoms, format="extxyz")
    for name, ts in (("schnet_float64", "schnet"), ("wacsf_float64", "wacsf")):
        runs = [
            _zoo_run(cmake_build, p, xyz) for p in (aoti_golden[name], GOLDEN / f"{ts}_periodic_float64.pt")
        ]
        assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
        got, want = (json.loads(r.stdout.splitlines()[0]) for r in runs)
        for key in ("energy", "forces", "virial", "stress"):
            np.testing.assert_allclose(got[key], want[key], rtol=1e-10, atol=1e-12, err_msg=f"{name} {key}")

    meta = read_metadata(aoti_golden["schnet_float64"])
    foreign = tmp_path / "riscv.pt2"
    rewrite(
        aoti_golden["schnet_float64"],
        foreign,
        {**meta, "compiled": {**meta["compiled"], "machine": "riscv64"}},
    )
    proc = _zoo_run(cmake_build, foreign, xyz)
    assert proc.returncode != 0 and "compiled for riscv64" in proc.stderr, proc.stderr


def test_cli_export_aoti_with_dipole(tmp_path: Path, capsys) -> None:
    """`zoo export -o m.pt2` (format from the suffix) on an ACSF model with a dipole head: the .pt2 gives
    the TorchScript numbers, dipole included, through the ASE calculator; bad options exit with 2."""
    from ase import Atoms

    from zoo.ase import ZooCalculator
    from zoo.cli import main
    from zoo.model import build_model, default_config

    cfg = default_config("acsf", [1, 6, 8], ["energy", "forces", "dipole"], cutoff=3.5)
    cfg["representation"].update(n_radial=3, n_angular=2, zetas=[1, 2])
    cfg["head"]["n_hidden"] = [6]
    torch.manual_seed(5)
    model = build_model(cfg)
    ckpt = tmp_path / "best.ckpt"
    state = {"format": "zoo-checkpoint", "version": 1, "config": cfg, "state_dict": model.state_dict()}
    torch.save(state, ckpt)
    assert main(["export", str(ckpt), "-o", str(tmp_path / "m.pt2"), "--dtype", "float64"]) == 0
    assert "(aoti, " in capsys.readouterr().out
    assert main(["export", str(ckpt), "-o", str(tmp_path / "m.pt"), "--dtype", "float64"]) == 0
    assert load_artifact(tmp_path / "m.pt2").outputs[-1] == "dipole"

    rng = np.random.default_rng(2)
    atoms = Atoms(numbers=[8, 1, 1, 6, 1, 1, 1, 8], positions=rng.normal(scale=1.4, size=(8, 3)))
    res = {}
    for suffix in (".pt2", ".pt"):
        a = atoms.copy()
        a.calc = ZooCalculator(tmp_path / f"m{suffix}")
        res[suffix] = (a.get_potential_energy(), a.get_forces(), a.get_dipole_moment())
    for got, want in zip(res[".pt2"], res[".pt"], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)

    assert main(["export", str(ckpt), "-o", str(tmp_path / "x.pt2"), "--threads", "0"]) == 2
    assert "threads must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "x.pt2").exists() and not list(tmp_path.glob(".*.tmp"))

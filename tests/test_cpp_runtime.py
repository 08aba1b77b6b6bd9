"""The C++ runtime (cpp_runtime/): ctest suite, and `zoo-run` on XYZ files against Python/TorchScript."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import water_frame
from cpp_build import REPO, cmake_build, ctest  # noqa: F401  (cmake_build is a fixture)

pytestmark = pytest.mark.cpp

MAKE_ARTIFACT = REPO / "cpp_runtime" / "tests" / "make_test_artifact.py"
GOLDEN = REPO / "export" / "golden"


def zoo_run(build: Path) -> Path:
    return build / "cpp_runtime" / "zoo-run"


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("artifacts")
    subprocess.run([sys.executable, str(MAKE_ARTIFACT), str(out)], check=True)
    return out


def test_ctest_suite(cmake_build):  # noqa: F811
    proc = ctest(cmake_build, r"^zoo_runtime\.")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]
    assert "100% tests passed" in out
    assert re.search(r"Test +#\d+: zoo_runtime\.install_find_package \.+ +Passed", out), out


def reference(artifact: Path, atoms) -> dict:
    """Python evaluation of the same artifact with ASE's neighbour list (the ZooCalculator path)."""
    from ase.neighborlist import primitive_neighbor_list

    import zoo.ops  # noqa: F401 (zoo's operators, for artifacts with tabulated filters)

    extra = {"metadata.json": ""}
    module = torch.jit.load(str(artifact), _extra_files=extra)
    meta = json.loads(extra["metadata.json"])
    dtype = torch.float64 if meta["dtype"] == "float64" else torch.float32
    pos = atoms.get_positions()
    cell = atoms.cell.array
    i, j, S = primitive_neighbor_list("ijS", atoms.pbc, cell, pos, meta["cutoff"], self_interaction=False)
    res = module(
        torch.tensor(pos, dtype=dtype),
        torch.tensor(atoms.numbers, dtype=torch.int64),
        torch.tensor(np.stack([i, j]), dtype=torch.int64),
        torch.tensor(S @ cell, dtype=dtype),
        len(atoms),
    )
    return {k: v.detach().double().numpy() for k, v in res.items()}


def water_box(shared_data: Path, reps: int = 1):
    from ase import Atoms

    coord, z, box = water_frame(shared_data)
    return Atoms(numbers=z, positions=coord, cell=box, pbc=True).repeat(reps)


def triclinic_cell():
    from ase import Atoms

    rng = np.random.default_rng(5)
    cell = np.array([[4.2, 0.0, 0.0], [1.1, 3.9, 0.0], [-0.6, 0.7, 4.5]])
    frac = rng.random((10, 3))
    return Atoms(numbers=rng.choice([1, 6, 7, 8], 10), positions=frac @ cell, cell=cell, pbc=True)


def check_zoo_run(build: Path, artifact: Path, atoms, tmp_path: Path, rtol: float) -> None:
    from ase.io import write

    xyz = tmp_path / "structure.xyz"
    write(xyz, atoms, format="extxyz")
    proc = subprocess.run(
        [str(zoo_run(build)), str(artifact), str(xyz), "--json"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.splitlines()[0])
    want = reference(artifact, atoms)
    assert got["n_atoms"] == len(atoms)
    np.testing.assert_allclose(got["energy"], want["energy"], rtol=rtol, atol=1e-8)
    scale = np.abs(want["forces"]).max()
    np.testing.assert_allclose(got["forces"], want["forces"], rtol=rtol, atol=1e-6 * scale)
    np.testing.assert_allclose(
        got["virial"], want["virial"], rtol=rtol, atol=1e-6 * np.abs(want["virial"]).max()
    )
    stress = -want["virial"] / atoms.get_volume()
    np.testing.assert_allclose(got["stress"], stress, rtol=rtol, atol=1e-6 * np.abs(stress).max())
    # the human-readable form prints the same energy
    text = subprocess.run([str(zoo_run(build)), str(artifact), str(xyz)], capture_output=True, text=True)
    assert text.returncode == 0, text.stderr
    energy = float(re.search(r"^energy +(\S+) eV", text.stdout, re.M).group(1))
    assert energy == pytest.approx(float(want["energy"]), rel=1e-9, abs=1e-9)
    assert "stress" in text.stdout


def test_zoo_run_triclinic_matches_python(cmake_build, artifacts, tmp_path):  # noqa: F811
    check_zoo_run(cmake_build, artifacts / "pair64.pt", triclinic_cell(), tmp_path, rtol=1e-10)


@pytest.mark.parametrize("name", ["schnet_water_float64.pt", "schnet_water_table_float64.pt"])
def test_zoo_run_real_water_schnet_matches_python(cmake_build, shared_data, tmp_path, name):  # noqa: F811
    """192-atom DFT water frame (real data) through the exporter's SchNet artifacts: the filter networks,
    and the same model with tabulated filters (zoo::cfconv_tab, the runtime's fused kernels)."""
    check_zoo_run(cmake_build, GOLDEN / name, water_box(shared_data), tmp_path, rtol=1e-9)


def test_zoo_run_plain_xyz_molecule(cmake_build, artifacts, tmp_path, shared_data):  # noqa: F811
    """Plain XYZ (no Lattice): non-periodic, no stress; malonaldehyde from the real MD data."""
    from ase import Atoms

    d = np.load(shared_data / "md" / "xtb_malonaldehyde.npz")
    atoms = Atoms(numbers=d["z"], positions=d["R"][0])
    xyz = tmp_path / "mol.xyz"
    lines = [str(len(atoms)), "malonaldehyde"]
    lines += [
        f"{s} {x:.12f} {y:.12f} {z:.12f}"
        for s, (x, y, z) in zip(atoms.get_chemical_symbols(), atoms.positions, strict=True)
    ]
    xyz.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        [str(zoo_run(cmake_build)), str(artifacts / "pair64.pt"), str(xyz), "--json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert "stress" not in got
    want = reference(artifacts / "pair64.pt", atoms)
    assert got["energy"] == pytest.approx(float(want["energy"]), rel=1e-9)
    np.testing.assert_allclose(got["forces"], want["forces"], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "case, needle",
    [
        ("future", "format version 2.0, newer than this runtime supports"),
        ("operator", "needs the operator zoo::from_the_future, which this runtime does not provide"),
        ("garbage", "garbage.pt"),
        ("tampered", "SHA-256"),
        ("iron", "element Fe (atom 0) is not supported"),
    ],
)
def test_zoo_run_refuses(cmake_build, artifacts, tmp_path, case, needle):  # noqa: F811
    xyz = tmp_path / "s.xyz"
    xyz.write_text("2\n\nO 0 0 0\nH 0.97 0 0\n")
    artifact = artifacts / f"{case}.pt"
    if case == "garbage":
        artifact = tmp_path / "garbage.pt"
        artifact.write_bytes(b"PK\x03\x04 definitely not a complete zip")
    if case == "iron":
        artifact = artifacts / "pair64.pt"
        xyz.write_text("2\n\nFe 0 0 0\nH 1.5 0 0\n")
    proc = subprocess.run(
        [str(zoo_run(cmake_build)), str(artifact), str(xyz)], capture_output=True, text=True
    )
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert needle in proc.stderr
    assert proc.stderr.count("\n") == 1  # one line, like the Python CLI

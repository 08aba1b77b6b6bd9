"""zoo.ase.ZooCalculator: finite-difference forces and stress, Verlet skin, ONNX = TorchScript, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from conftest import REPO

from zoo.ase import ZooCalculator
from zoo.errors import ModelError

GOLDEN = REPO / "export" / "golden"


pytestmark = pytest.mark.usefixtures("one_thread")


def _atoms(name: str) -> Atoms:
    i = json.loads((GOLDEN / f"{name}.json").read_text())["inputs"]
    if i["cell"] is None:
        return Atoms(numbers=i["numbers"], positions=i["positions"])
    return Atoms(numbers=i["numbers"], positions=i["positions"], cell=i["cell"], pbc=i["pbc"])


@pytest.mark.parametrize(
    "name", ["schnet_periodic_float64", "acsf_molecule_float64", "wacsf_periodic_float64"]
)
def test_forces_are_minus_energy_gradient(name: str) -> None:
    atoms = _atoms(name)
    atoms.calc = ZooCalculator(GOLDEN / f"{name}.pt")
    forces = atoms.get_forces()
    assert atoms.get_potential_energy() == pytest.approx(
        json.loads((GOLDEN / f"{name}.json").read_text())["expected"]["energy"], rel=1e-10
    )
    np.testing.assert_allclose(atoms.get_potential_energies().sum(), atoms.get_potential_energy(), rtol=1e-12)
    h = 1e-5
    fd = np.zeros_like(forces)
    pos0 = atoms.positions.copy()
    for i in range(len(atoms)):
        for k in range(3):
            e = []
            for sign in (1, -1):
                p = pos0.copy()
                p[i, k] += sign * h
                atoms.positions = p
                e.append(atoms.get_potential_energy())
            fd[i, k] = -(e[0] - e[1]) / (2 * h)
    atoms.positions = pos0
    np.testing.assert_allclose(forces, fd, atol=1e-7 * max(1.0, np.abs(forces).max()))


@pytest.mark.parametrize("name", ["schnet_periodic_float64", "acsf_periodic_float64"])
def test_stress_is_strain_derivative(name: str) -> None:
    atoms = _atoms(name)
    atoms.calc = ZooCalculator(GOLDEN / f"{name}.pt")
    stress = atoms.get_stress(voigt=False)
    cell0, pos0, vol = atoms.cell.array.copy(), atoms.positions.copy(), atoms.get_volume()
    h = 1e-5
    fd = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            e = []
            for sign in (1, -1):
                strain = np.eye(3)
                strain[i, j] += sign * h
                atoms.set_cell(cell0 @ strain, scale_atoms=False)
                atoms.positions = pos0 @ strain
                e.append(atoms.get_potential_energy())
            fd[i, j] = (e[0] - e[1]) / (2 * h) / vol
    np.testing.assert_allclose(stress, 0.5 * (fd + fd.T), atol=1e-8 * max(1.0, np.abs(stress).max()))


def test_verlet_skin_rebuilds_only_when_needed() -> None:
    atoms = _atoms("schnet_periodic_float64")
    calc = ZooCalculator(GOLDEN / "schnet_periodic_float64.pt", skin=0.5)
    atoms.calc = calc
    atoms.get_forces()
    rng = np.random.default_rng(0)
    for _ in range(5):  # every atom moves < skin/2 in total
        atoms.positions = atoms.positions + rng.uniform(-0.03, 0.03, (len(atoms), 3))
        e_skin, f_skin = atoms.get_potential_energy(), atoms.get_forces()
        fresh = atoms.copy()
        fresh.calc = ZooCalculator(GOLDEN / "schnet_periodic_float64.pt", skin=0.0)
        assert e_skin == pytest.approx(fresh.get_potential_energy(), rel=1e-12)
        np.testing.assert_allclose(f_skin, fresh.get_forces(), atol=1e-12)
    assert calc.n_neighbor_builds == 1
    atoms.positions = atoms.positions + np.array([0.3, 0.0, 0.0]) * (np.arange(len(atoms)) == 0)[:, None]
    atoms.get_forces()
    assert calc.n_neighbor_builds == 2
    atoms.set_cell(atoms.cell.array * 1.01, scale_atoms=True)
    atoms.get_forces()
    assert calc.n_neighbor_builds == 3


def _variants(base: Atoms) -> list[Atoms]:
    """`base` changed in each way ASE's compare_atoms looks at, and in ways it must not see."""
    out = [base.copy()]
    for change in range(11):
        a = base.copy()
        if change == 0:
            a.positions[1, 2] += 1e-16  # inside the 1e-15 tolerance: unchanged
        elif change == 1:
            a.positions[1, 2] += 1e-9
        elif change == 2:
            a.numbers[0] = 6
        elif change == 3:
            a.cell = np.eye(3) * 9.0
        elif change == 4:
            a.pbc = [True, False, False]
        elif change == 5:
            a.set_initial_charges(np.zeros(len(a)))  # present in one only: changed (ASE's rule)
        elif change == 6:
            a.set_initial_magnetic_moments(np.arange(len(a), dtype=float))
        elif change == 7:
            a.set_momenta(np.ones((len(a), 3)))  # momenta are not a system change
        elif change == 8:
            a.positions[0, 0] = np.nan
        elif change == 9:
            a = a[:-1]  # one atom fewer
        else:
            a.positions[:] += 0.1
            a.cell = np.eye(3) * 12.0
        out.append(a)
    return out


def test_check_state_answers_as_ase() -> None:
    from ase.calculators.calculator import compare_atoms

    from zoo.ase import system_changes

    base = _atoms("schnet_molecule_float64")
    base.cell = np.eye(3) * 10.0
    for old in _variants(base):
        for new in _variants(base):
            assert sorted(system_changes(old, new)) == sorted(compare_atoms(old, new)), (old, new)
    calc = ZooCalculator(GOLDEN / "schnet_molecule_float32.pt")
    calc.ignored_changes = {"initial_charges"}
    calc.atoms = base.copy()
    moved = base.copy()
    moved.set_initial_charges(np.ones(len(base)))
    moved.positions[0] += 0.01
    assert calc.check_state(moved) == ["positions"]


def test_one_model_call_per_md_step() -> None:
    from ase import units
    from ase.md.verlet import VelocityVerlet

    atoms = _atoms("schnet_molecule_float64")
    calc = ZooCalculator(GOLDEN / "schnet_molecule_float64.pt")
    calls = 0
    compute = calc.artifact.compute

    def counted(*args, **kw):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return compute(*args, **kw)

    calc.artifact.compute = counted  # type: ignore[method-assign]
    atoms.calc = calc
    dyn = VelocityVerlet(atoms, timestep=0.2 * units.fs)
    dyn.run(10)
    atoms.get_potential_energy(), atoms.get_forces()
    assert calls == 11  # the first forces, then one per step; energy and forces of one geometry: one call


@pytest.mark.parametrize("kind", ["schnet", "acsf", "wacsf"])
def test_onnx_calculator_matches_torchscript(kind: str) -> None:
    atoms = _atoms(f"{kind}_molecule_float32")
    ts = atoms.copy()
    ts.calc = ZooCalculator(GOLDEN / f"{kind}_molecule_float32.pt")
    ox = atoms.copy()
    ox.calc = ZooCalculator(GOLDEN / f"{kind}_molecule_float32.onnx")
    assert ox.get_potential_energy() == pytest.approx(ts.get_potential_energy(), rel=1e-5)
    f = ts.get_forces()
    np.testing.assert_allclose(ox.get_forces(), f, rtol=1e-5, atol=1e-5 * np.abs(f).max())
    # periodic input through the ONNX model too (stress available)
    per = _atoms(f"{kind}_periodic_float32")
    per.calc = ZooCalculator(GOLDEN / f"{kind}_molecule_float32.onnx")
    ref = per.copy()
    ref.calc = ZooCalculator(GOLDEN / f"{kind}_periodic_float32.pt")
    np.testing.assert_allclose(per.get_stress(), ref.get_stress(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("suffix", ["pt", "onnx"])
def test_clear_input_errors(suffix: str) -> None:
    path = GOLDEN / f"schnet_molecule_float32.{suffix}"
    atoms = _atoms("schnet_molecule_float64")
    bad = atoms.copy()
    bad.numbers[0] = 9
    bad.calc = ZooCalculator(path)
    with pytest.raises(ModelError, match=r"element F \(Z=9\) is not supported .*H, C, O"):
        bad.get_potential_energy()
    heavy = atoms.copy()
    heavy.numbers[1] = 92  # beyond the model's largest element
    heavy.calc = ZooCalculator(path)
    with pytest.raises(ModelError, match=r"element U \(Z=92\) is not supported"):
        heavy.get_forces()
    nan = atoms.copy()
    nan.positions[2, 1] = np.nan
    nan.calc = ZooCalculator(path)
    with pytest.raises(ModelError, match="NaN"):
        nan.get_forces()
    close = atoms.copy()
    close.positions[1] = close.positions[0] + [0.05, 0, 0]
    close.calc = ZooCalculator(path)
    with pytest.raises(ModelError, match=r"atoms 0 and 1 are 0.0500 Å apart"):
        close.get_forces()
    nocell = atoms.copy()
    nocell.pbc = True
    nocell.calc = ZooCalculator(path)
    with pytest.raises(ModelError, match="need a cell"):
        nocell.get_forces()


def test_molecule_has_no_stress() -> None:
    from ase.calculators.calculator import PropertyNotImplementedError

    atoms = _atoms("schnet_molecule_float64")
    atoms.calc = ZooCalculator(GOLDEN / "schnet_molecule_float64.pt")
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()

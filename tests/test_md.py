"""zoo.md / zoo md: NVE energy conservation, Langevin, BFGS, normal modes, VACF power spectrum, CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from conftest import REPO

from zoo.cli import main
from zoo.errors import ModelError
from zoo.md import Simulation, power_spectrum, velocity_autocorrelation

MODEL = REPO / "export" / "golden" / "schnet_molecule_float64.pt"  # smooth, seeded SchNet (H, C, O)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def malonaldehyde(shared_data: Path) -> Atoms:
    d = np.load(shared_data / "md" / "xtb_malonaldehyde.npz")
    return Atoms(numbers=d["z"], positions=d["R"][0])


def _rows(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_nve_conserves_energy(malonaldehyde: Atoms, tmp_path: Path) -> None:
    sim = Simulation(MODEL, malonaldehyde, output=tmp_path, seed=1)
    res = sim.md(steps=400, timestep=0.25, temperature=300.0, thermostat="nve")
    rows = _rows(tmp_path / "md.csv")
    assert len(rows) == 401 and (tmp_path / "md.png").stat().st_size > 1000
    ekin = np.array([float(r["ekin_eV"]) for r in rows])
    assert ekin.std() > 1e-3  # the system actually moves
    # 0.1 ps of Velocity Verlet: fluctuations far below the kinetic energy scale, no systematic drift
    assert res["etot_max_dev_eV"] < 2e-3, res
    assert abs(res["etot_drift_eV"]) < 1e-3, res


def test_langevin_optimize_vibrations(malonaldehyde: Atoms, tmp_path: Path) -> None:
    sim = Simulation(MODEL, malonaldehyde, output=tmp_path, seed=0)
    res = sim.optimize(fmax=5e-3, steps=300)
    assert res["converged"] and res["fmax"] < 5e-3
    assert (tmp_path / "optimized.xyz").exists() and len(_rows(tmp_path / "optimize.csv")) == res["steps"] + 1
    freqs = sim.vibrations()
    assert freqs.shape == (27,) and len(_rows(tmp_path / "vibrations.csv")) == 27
    assert np.sort(np.abs(freqs))[:6].max() < 60.0  # translations/rotations near zero at a minimum
    lg = sim.md(
        steps=50, timestep=0.5, temperature=500.0, thermostat="langevin", friction=0.05, name="langevin"
    )
    assert lg["mean_temperature"] > 50.0 and (tmp_path / "langevin.csv").exists()
    with pytest.raises(ModelError, match="thermostat"):
        sim.md(steps=1, thermostat="berendsen")


def test_vacf_power_spectrum_finds_known_frequency() -> None:
    dt = 0.5  # fs
    wavenumber = 1500.0  # cm^-1
    t = np.arange(4000) * dt
    f = wavenumber * 2.99792458e-5  # 1/fs
    rng = np.random.default_rng(0)
    phases = rng.uniform(0, 2 * np.pi, (5, 3))
    v = np.cos(2 * np.pi * f * t[:, None, None] + phases[None])
    acf = velocity_autocorrelation(v)
    assert acf[0] == pytest.approx(1.0)
    freq, intensity = power_spectrum(acf, dt)
    assert freq[np.argmax(intensity)] == pytest.approx(wavenumber, abs=15.0)


def test_cli_spectrum_and_optimize(malonaldehyde: Atoms, tmp_path: Path, capsys) -> None:
    xyz = tmp_path / "mal.xyz"
    ase.io.write(xyz, malonaldehyde)
    out = tmp_path / "spec"
    args = [
        "md",
        str(MODEL),
        "--structure",
        str(xyz),
        "--task",
        "spectrum",
        "--steps",
        "120",
        "--output",
        str(out),
    ]
    assert main(args + ["--timestep", "0.5", "--temperature", "300"]) == 0
    for name in ("spectrum.csv", "spectrum.png", "vacf.csv", "production.csv"):
        assert (out / name).stat().st_size > 0
    assert "power spectrum" in capsys.readouterr().out
    assert main(["md", str(MODEL), "--structure", str(tmp_path / "none.xyz"), "--output", str(out)]) == 2

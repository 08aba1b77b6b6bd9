"""Simulations with an exported artifact through ASE (the SchNetPack paper's Listing 2 and Figure 3).

    from zoo.md import Simulation
    sim = Simulation("model.pt", "malonaldehyde.xyz", output="run")
    sim.optimize(fmax=1e-3)                       # BFGS
    freqs = sim.vibrations()                      # normal modes (ase.vibrations), cm^-1
    sim.md(steps=2000, timestep=0.5, temperature=300, thermostat="langevin")
    freq, intensity = sim.spectrum(steps=20000, timestep=0.5, temperature=300)   # from the VACF

Every task writes CSV files (and PNG plots) into ``output``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import ase.io
import numpy as np
from ase import Atoms, units
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS

from zoo.ase import ZooCalculator
from zoo.errors import ModelError

SPEED_OF_LIGHT_CM_PER_FS = 2.99792458e-5  # cm / fs


def _write_csv(path: Path, header: list[str], rows: Any) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for row in rows:
            w.writerow([f"{x:.10g}" if isinstance(x, float | np.floating) else x for x in row])


def _plot(path: Path, x: np.ndarray, ys: dict[str, np.ndarray], xlabel: str, ylabel: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, y in ys.items():
        ax.plot(x, y, label=label, lw=1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(ys) > 1:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def velocity_autocorrelation(velocities: np.ndarray, masses: np.ndarray | None = None) -> np.ndarray:
    """C(t) = < sum_i m_i v_i(0) . v_i(t) > averaged over time origins, normalised to C(0) = 1.

    velocities (T, N, 3); masses (N,) for the mass-weighted VACF (None: unweighted).
    """
    v = np.asarray(velocities, dtype=np.float64)
    n_t = v.shape[0]
    if n_t < 2:
        raise ModelError("the velocity autocorrelation needs at least 2 frames")
    if masses is not None:
        v = v * np.sqrt(np.asarray(masses, dtype=np.float64))[None, :, None]
    flat = v.reshape(n_t, -1)
    spec = np.fft.rfft(flat, n=2 * n_t, axis=0)
    acf = np.fft.irfft((spec * spec.conj()).real, axis=0)[:n_t].sum(1)
    acf /= np.arange(n_t, 0, -1)  # number of time origins per lag
    return acf / acf[0]


def power_spectrum(acf: np.ndarray, timestep_fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Wavenumbers (cm^-1) and intensity of the Fourier transform of a (Hann-windowed) VACF."""
    n = len(acf)
    window = np.hanning(2 * n)[n:]  # decays from 1 to 0 along the lags
    sym = np.concatenate([acf * window, (acf * window)[-2:0:-1]])  # even extension
    intensity = np.abs(np.fft.rfft(sym).real)
    freq_per_fs = np.fft.rfftfreq(len(sym), d=timestep_fs)
    return freq_per_fs / SPEED_OF_LIGHT_CM_PER_FS, intensity / max(intensity.max(), 1e-300)


class Simulation:
    """A structure + a ZooCalculator + an output folder."""

    def __init__(
        self,
        model: str | Path,
        structure: str | Path | Atoms,
        output: str | Path = "zoo_md",
        device: str = "cpu",
        seed: int = 0,
    ) -> None:
        self.calc = ZooCalculator(model, device=device)
        if isinstance(structure, Atoms):
            atoms = structure.copy()
        else:
            try:
                atoms = ase.io.read(str(structure))
            except FileNotFoundError:
                raise
            except Exception as exc:  # noqa: BLE001 - ase raises many types for bad files
                raise ModelError(f"cannot read structure {structure} ({type(exc).__name__}: {exc})") from None
        atoms.calc = self.calc
        self.atoms = atoms
        self.output = Path(output)
        self.output.mkdir(parents=True, exist_ok=True)
        self.rng = np.random.default_rng(seed)

    # -- geometry optimisation ---------------------------------------------------------------------
    def optimize(self, fmax: float = 1e-3, steps: int = 1000) -> dict[str, float]:
        rows: list[tuple] = []
        opt = BFGS(self.atoms, logfile=None)

        def log() -> None:
            f = self.atoms.get_forces()
            rows.append((opt.nsteps, self.atoms.get_potential_energy(), float(np.sqrt((f**2).sum(1)).max())))

        opt.attach(log, interval=1)
        converged = bool(opt.run(fmax=fmax, steps=steps))
        _write_csv(self.output / "optimize.csv", ["step", "energy_eV", "fmax_eV_per_A"], rows)
        ase.io.write(self.output / "optimized.xyz", self.atoms)
        return {"energy": rows[-1][1], "fmax": rows[-1][2], "steps": len(rows) - 1, "converged": converged}

    # -- normal modes ------------------------------------------------------------------------------
    def vibrations(self, delta: float = 0.01) -> np.ndarray:
        """Harmonic frequencies in cm^-1 (imaginary modes as negative numbers); writes vibrations.csv."""
        from ase.vibrations import Vibrations

        cache = self.output / "vib_cache"
        vib = Vibrations(self.atoms, name=str(cache), delta=delta)
        vib.clean()
        vib.run()
        energies = vib.get_energies()  # eV, complex for imaginary modes
        vib.clean()
        freqs = np.where(np.abs(energies.imag) > np.abs(energies.real), -np.abs(energies.imag), energies.real)
        freqs = freqs / units.invcm
        _write_csv(self.output / "vibrations.csv", ["mode", "frequency_cm-1"], enumerate(freqs.tolist()))
        return freqs

    # -- molecular dynamics ------------------------------------------------------------------------
    def init_velocities(self, temperature: float) -> None:
        MaxwellBoltzmannDistribution(self.atoms, temperature_K=temperature, rng=self.rng)
        Stationary(self.atoms)
        if not self.atoms.pbc.any():
            ZeroRotation(self.atoms)

    def md(
        self,
        steps: int,
        timestep: float = 0.5,
        temperature: float = 300.0,
        thermostat: str = "langevin",
        friction: float = 0.01,
        interval: int = 1,
        init_velocities: bool = True,
        name: str = "md",
        record_velocities: bool = False,
    ) -> dict[str, Any]:
        """Velocity Verlet (thermostat 'nve') or Langevin dynamics; timestep in fs, friction in 1/fs.

        Writes ``<name>.csv`` (time, potential/kinetic/total energy, temperature) and ``<name>.png``.
        """
        if steps < 0:
            raise ModelError(f"steps must be >= 0, got {steps}")
        if init_velocities:
            self.init_velocities(temperature)
        dt = timestep * units.fs
        if thermostat == "nve":
            dyn = VelocityVerlet(self.atoms, timestep=dt, logfile=None)
        elif thermostat == "langevin":
            # centre of mass held by a constraint (ASE's fixcm=True is deprecated and biased)
            if not any(isinstance(c, FixCom) for c in self.atoms.constraints):
                self.atoms.constraints = [*self.atoms.constraints, FixCom()]
            dyn = Langevin(
                self.atoms,
                timestep=dt,
                temperature_K=temperature,
                friction=friction / units.fs,
                fixcm=False,
                rng=self.rng,
                logfile=None,
            )
        else:
            raise ModelError(f"unknown thermostat {thermostat!r}; choose nve or langevin")
        rows: list[tuple] = []
        velocities: list[np.ndarray] = []

        def log() -> None:
            epot = self.atoms.get_potential_energy()
            ekin = self.atoms.get_kinetic_energy()
            temp = self.atoms.get_temperature()
            rows.append((dyn.nsteps * timestep, epot, ekin, epot + ekin, temp))

        def keep_v() -> None:
            velocities.append(self.atoms.get_velocities().copy())

        dyn.attach(log, interval=interval)
        if record_velocities:
            dyn.attach(keep_v, interval=1)
        dyn.run(steps)
        _write_csv(
            self.output / f"{name}.csv", ["time_fs", "epot_eV", "ekin_eV", "etot_eV", "temperature_K"], rows
        )
        arr = np.array(rows, dtype=np.float64)
        _plot(
            self.output / f"{name}.png",
            arr[:, 0],
            {"E_pot": arr[:, 1] - arr[0, 1], "E_tot": arr[:, 3] - arr[0, 1]},
            "time / fs",
            "energy - E_pot(0) / eV",
            f"{thermostat} MD, dt = {timestep} fs",
        )
        etot = arr[:, 3]
        result: dict[str, Any] = {
            "steps": steps,
            "time_fs": float(arr[-1, 0]),
            "mean_temperature": float(arr[:, 4].mean()),
            "etot_drift_eV": float(etot[-1] - etot[0]),
            "etot_max_dev_eV": float(np.abs(etot - etot[0]).max()),
            "drift_eV_per_atom_per_ps": float(
                (etot[-1] - etot[0]) / len(self.atoms) / max(arr[-1, 0], 1e-12) * 1e3
            ),
        }
        if record_velocities:
            result["velocities"] = np.array(velocities)
        return result

    # -- vibrational spectrum from the VACF ----------------------------------------------------------
    def spectrum(
        self,
        steps: int,
        timestep: float = 0.5,
        temperature: float = 300.0,
        equilibration: int = 0,
        friction: float = 0.01,
        max_wavenumber: float = 4000.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Langevin equilibration, then NVE production recording velocities; VACF -> power spectrum.

        Writes vacf.csv, spectrum.csv and spectrum.png (like Figure 3 of the SchNetPack paper).
        """
        if equilibration > 0:
            self.md(equilibration, timestep, temperature, "langevin", friction, name="equilibration")
            # no rigid-body motion in the production run: it would only add a peak at ~0 cm^-1
            Stationary(self.atoms, preserve_temperature=False)
            if not self.atoms.pbc.any():
                ZeroRotation(self.atoms, preserve_temperature=False)
        res = self.md(
            steps,
            timestep,
            temperature,
            "nve",
            init_velocities=equilibration == 0,
            name="production",
            record_velocities=True,
        )
        acf = velocity_autocorrelation(res["velocities"], self.atoms.get_masses())
        _write_csv(
            self.output / "vacf.csv",
            ["time_fs", "vacf"],
            zip((np.arange(len(acf)) * timestep).tolist(), acf.tolist(), strict=True),
        )
        freq, intensity = power_spectrum(acf, timestep)
        keep = freq <= max_wavenumber
        freq, intensity = freq[keep], intensity[keep]
        _write_csv(
            self.output / "spectrum.csv",
            ["wavenumber_cm-1", "intensity"],
            zip(freq.tolist(), intensity.tolist(), strict=True),
        )
        _plot(
            self.output / "spectrum.png",
            freq,
            {"power spectrum": intensity},
            "wavenumber / cm$^{-1}$",
            "intensity / a.u.",
            f"VACF power spectrum ({len(self.atoms)} atoms, {steps * timestep / 1000:.3g} ps)",
        )
        return freq, intensity


def nyquist_cm(timestep_fs: float) -> float:
    """Highest resolvable wavenumber for a time step."""
    return 1.0 / (2.0 * timestep_fs) / SPEED_OF_LIGHT_CM_PER_FS


__all__ = ["Simulation", "power_spectrum", "velocity_autocorrelation", "nyquist_cm"]

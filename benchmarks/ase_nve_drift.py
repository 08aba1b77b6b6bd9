"""Energy conservation of Velocity Verlet through zoo.ase.ZooCalculator (10 ps on malonaldehyde).

    python benchmarks/ase_nve_drift.py [--model export/golden/schnet_molecule_float64.pt] [--ps 10]
                                       [--timestep 0.5] [--temperature 300]

Starts from frame 0 of xtb_malonaldehyde.npz with Maxwell-Boltzmann velocities (seeded) and prints the
total-energy drift (last - first), its largest deviation, a linear-fit drift rate, and the time per step.
The default model is the seeded SchNet golden artifact (float64, smooth); pass a trained artifact to
measure a real potential.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ase import Atoms

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from common import SHARED  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "export" / "golden" / "schnet_molecule_float64.pt"))
    ap.add_argument("--ps", type=float, default=10.0)
    ap.add_argument("--timestep", type=float, default=0.5, help="fs")
    ap.add_argument("--temperature", type=float, default=300.0)
    ap.add_argument("--output", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)

    from zoo.md import Simulation

    d = np.load(SHARED / "md" / "xtb_malonaldehyde.npz")
    atoms = Atoms(numbers=d["z"], positions=d["R"][0])
    out = Path(args.output or tempfile.mkdtemp(prefix="zoo_nve_"))
    sim = Simulation(args.model, atoms, output=out, seed=0)
    steps = int(round(args.ps * 1000 / args.timestep))
    t0 = time.perf_counter()
    res = sim.md(steps, args.timestep, args.temperature, thermostat="nve", interval=10)
    wall = time.perf_counter() - t0
    data = np.loadtxt(out / "md.csv", delimiter=",", skiprows=1)
    slope = np.polyfit(data[:, 0] / 1000.0, data[:, 3], 1)[0]  # eV / ps
    print(f"model {args.model}")
    print(
        f"NVE {args.ps} ps ({steps} steps of {args.timestep} fs), {len(atoms)} atoms, <T> = "
        f"{res['mean_temperature']:.0f} K"
    )
    print(f"E_tot(end) - E_tot(0)      = {res['etot_drift_eV']:+.3e} eV")
    print(f"max |E_tot - E_tot(0)|     = {res['etot_max_dev_eV']:.3e} eV")
    print(f"linear-fit drift           = {slope:+.3e} eV/ps  ({slope / len(atoms) * 1e3:+.3e} meV/atom/ps)")
    print(f"wall time                  = {wall:.1f} s ({1e3 * wall / max(steps, 1):.2f} ms/step)")
    print(f"log: {out}/md.csv")


if __name__ == "__main__":
    main()

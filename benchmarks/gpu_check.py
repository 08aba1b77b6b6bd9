"""GPU checks and figures in one run (CUDA machine only).

    python benchmarks/gpu_check.py

1. Neighbour lists on the GPU equal those on the CPU (molecule batch, periodic water box).
2. SchNet/ACSF/wACSF energies and forces on the GPU equal the CPU within 1e-9 (float64).
3. ASE calculator on CUDA: ms per energy+forces call and per Velocity-Verlet MD step for
   malonaldehyde (the SchNetPack paper reports 11 ms/step on a P100) and a 1,536-atom water box.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from zoo.model import build_model, default_config
from zoo.neighbors import neighbor_list

SHARED = Path(__file__).resolve().parents[1] / "shared" / "data"
if not SHARED.is_dir():
    SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def water_box(reps: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    base = SHARED / "water" / "data_0"
    types = np.loadtxt(base / "type.raw", dtype=int)
    coord = np.load(base / "set.000" / "coord.npy")[0].reshape(-1, 3)
    box = np.load(base / "set.000" / "box.npy")[0].reshape(3, 3)
    z = np.where(types == 0, 8, 1)
    shifts = [np.array([a, b, c]) @ box for a in range(reps) for b in range(reps) for c in range(reps)]
    return np.concatenate([coord + s for s in shifts]), np.tile(z, len(shifts)), box * reps


def check_neighbors() -> None:
    pos, z, box = water_box(2)
    for dev in ("cpu", "cuda"):
        e, s = neighbor_list(
            torch.tensor(pos, device=dev),
            5.0,
            torch.tensor(box, device=dev),
            torch.ones(3, dtype=torch.bool, device=dev),
        )
        key = sorted(zip(e[0].tolist(), e[1].tolist(), np.round(s.cpu().numpy(), 6).tolist(), strict=True))
        if dev == "cpu":
            ref = key
        else:
            assert key == ref, "GPU neighbour list differs from CPU"
    print(f"neighbour list GPU == CPU on {len(z)}-atom water box: {len(ref)} pairs")


def check_models() -> None:
    d = np.load(SHARED / "md" / "xtb_malonaldehyde.npz")
    pos, z = d["R"][:4].reshape(-1, 3), np.tile(d["z"], 4)
    idx_m = torch.arange(4).repeat_interleave(9)
    for kind in ("schnet", "acsf", "wacsf"):
        torch.manual_seed(0)
        model = build_model(default_config(kind, [1, 6, 8], ["energy", "forces"])).double()
        outs = []
        for dev in ("cpu", "cuda"):
            m = model.to(dev)
            r = torch.tensor(pos, device=dev)
            e, s = neighbor_list(r, 5.0, idx_m=idx_m.to(dev), n_atoms=torch.full((4,), 9, device=dev))
            o = m(
                torch.tensor(z, device=dev),
                r,
                e,
                s,
                idx_m.to(dev),
                4,
                torch.ones(36, dtype=torch.float64, device=dev),
                True,
                False,
                False,
                True,
            )
            outs.append({k: v.detach().cpu() for k, v in o.items()})
        de = (outs[0]["energy"] - outs[1]["energy"]).abs().max().item()
        df = (outs[0]["forces"] - outs[1]["forces"]).abs().max().item()
        assert de < 1e-9 and df < 1e-9, (kind, de, df)
        print(f"{kind}: GPU vs CPU float64 max |dE| = {de:.1e} eV, max |dF| = {df:.1e} eV/Å")


def calculator_timings() -> None:
    try:
        from ase import Atoms, units
        from ase.md.verlet import VelocityVerlet

        from zoo.ase import ZooCalculator
        from zoo.export import export_model
    except ImportError as exc:
        print(f"calculator timings skipped: {exc}")
        return
    d = np.load(SHARED / "md" / "xtb_malonaldehyde.npz")
    wpos, wz, wbox = water_box(2)
    systems = {
        "malonaldehyde (9 atoms)": Atoms(numbers=d["z"], positions=d["R"][0]),
        "water box (1,536 atoms)": Atoms(numbers=wz, positions=wpos, cell=wbox, pbc=True),
    }
    print(f"{'system':<26}{'kind':<8}{'ms/call':>10}{'ms/MD step':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("schnet", "wacsf"):
            torch.manual_seed(0)
            config = default_config(kind, [1, 6, 8], ["energy", "forces"])
            model = build_model(config)
            path = Path(tmp) / f"{kind}.pt"
            export_model(model, config, path)
            for name, atoms in systems.items():
                atoms = atoms.copy()
                atoms.calc = ZooCalculator(str(path), device="cuda")
                atoms.get_forces()
                n = 50
                torch.cuda.synchronize()
                t = time.perf_counter()
                for _ in range(n):
                    atoms.positions += 1e-4
                    atoms.get_forces()
                call = (time.perf_counter() - t) / n * 1000
                dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
                dyn.run(5)
                t = time.perf_counter()
                dyn.run(n)
                step = (time.perf_counter() - t) / n * 1000
                print(f"{name:<26}{kind:<8}{call:>10.2f}{step:>12.2f}")


def main() -> None:
    assert torch.cuda.is_available(), "no CUDA device"
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    check_neighbors()
    check_models()
    calculator_timings()


if __name__ == "__main__":
    main()

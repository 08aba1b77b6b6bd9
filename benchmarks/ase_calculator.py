"""ms per energy+forces call of zoo.ase.ZooCalculator: TorchScript vs ONNX Runtime.

    python benchmarks/ase_calculator.py [--threads 1] [--repeats 20] [--device cpu] [--dtype float32]

Model: SchNet at its default size (F=128, 6 interactions, cutoff 5 Å, species H C O), seeded weights,
exported once to .pt and .onnx in a temporary folder. Systems: malonaldehyde (9 atoms, frame 0 of
xtb_malonaldehyde.npz) and a 1,536-atom periodic water box (2x2x2 copies of the 192-atom frame of
water/data_0). "calculator" = atoms.get_forces() after moving every atom by 1e-4 Å (the Verlet list with
0.5 Å skin is reused, as in MD, and filtered to the cutoff), "model" = the artifact alone on the pairs
within the cutoff. Median over --repeats calls after 3 warm-up calls, as wall clock and as process CPU
time (the latter is the one to quote on a busy machine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ase import Atoms

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from common import SHARED, water_box  # noqa: E402


def systems() -> dict[str, Atoms]:
    d = np.load(SHARED / "md" / "xtb_malonaldehyde.npz")
    mol = Atoms(numbers=d["z"], positions=d["R"][0])
    water = water_box(2)
    return {"malonaldehyde (9 atoms)": mol, f"water box ({len(water)} atoms, periodic)": water}


def timeit(fn, repeats: int) -> tuple[float, float]:
    """Median wall-clock and median process CPU time per call, ms (CPU time is robust to a busy host)."""
    for _ in range(3):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return 1e3 * statistics.median(wall), 1e3 * statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--no-onnx", action="store_true")
    ap.add_argument("--only", choices=("molecule", "water"), default=None, help="benchmark one system")
    ap.add_argument("--artifacts", default=None, help="folder for schnet_<dtype>.pt/.onnx: reused if present")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from zoo.ase import ZooCalculator
    from zoo.export import export_model
    from zoo.model import build_model, default_config

    cfg = default_config("schnet", [1, 6, 8], ["energy", "forces"], cutoff=5.0)
    torch.manual_seed(0)
    model = build_model(cfg)
    tmp = Path(args.artifacts) if args.artifacts else Path(tempfile.mkdtemp(prefix="zoo_bench_"))
    tmp.mkdir(parents=True, exist_ok=True)
    paths = {"TorchScript": tmp / f"schnet_{args.dtype}.pt"}
    if not paths["TorchScript"].exists():
        export_model(model, cfg, paths["TorchScript"], dtype=args.dtype)
    if not args.no_onnx:
        paths["ONNX Runtime"] = tmp / f"schnet_{args.dtype}.onnx"
        if not paths["ONNX Runtime"].exists():
            t0 = time.perf_counter()
            export_model(model, cfg, paths["ONNX Runtime"], fmt="onnx", dtype=args.dtype)
            print(f"(ONNX export took {time.perf_counter() - t0:.0f} s)")
    print(
        f"SchNet F=128, 6 interactions, cutoff 5 Å, {args.dtype}, device {args.device}, "
        f"{args.threads} thread(s), torch {torch.__version__}"
    )
    header = (
        f"{'system':36s} {'runtime':13s} {'pairs':>7s} {'calc wall ms':>13s} {'calc CPU ms':>12s} "
        f"{'model wall ms':>14s} {'model CPU ms':>13s}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for name, atoms in systems().items():
        if args.only and not name.startswith({"molecule": "malon", "water": "water"}[args.only]):
            continue
        ref_e = None
        for runtime, path in paths.items():
            a = atoms.copy()
            calc = ZooCalculator(path, device=args.device)
            a.calc = calc
            e = a.get_potential_energy()
            if ref_e is None:
                ref_e = e
            rng = np.random.default_rng(0)

            def step(a=a, rng=rng):
                a.positions = a.positions + rng.normal(scale=1e-4, size=(len(a), 3))
                a.get_forces()

            t_calc = timeit(step, args.repeats)
            pos = a.get_positions()
            num = a.numbers
            ei, sh = calc._active_pairs(pos, calc._nl["edge_index"], calc._nl["shifts"])  # within cutoff

            def model_only(calc=calc, pos=pos, num=num, ei=ei, sh=sh):
                calc.artifact.compute(pos, num, ei, sh, len(num))

            t_model = timeit(model_only, args.repeats)
            n_pairs = ei.shape[1]
            print(
                f"{name:36s} {runtime:13s} {n_pairs:7d} {t_calc[0]:13.2f} {t_calc[1]:12.2f} "
                f"{t_model[0]:14.2f} {t_model[1]:13.2f}   (E = {e:.4f} eV)"
            )
            rows.append((name, runtime, t_calc, t_model, e - ref_e))
    worst = max(abs(r[4]) for r in rows)
    print(f"largest TorchScript/ONNX energy difference: {worst:.2e} eV")


if __name__ == "__main__":
    main()

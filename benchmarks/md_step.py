"""Molecular-dynamics step time of malonaldehyde with the paper's SchNet, in every consumer.

    python benchmarks/md_step.py [--checkpoint best.ckpt] [--steps 2000] [--rounds 3] [--threads 1]
                                 [--filter-table 512] [--device cuda]

The SchNetPack paper reports 11 ms per MD step of malonaldehyde on a P100 GPU. This measures the same
step on the CPU (NVE, 0.5 fs, 9 atoms, 300 K start) with SchNet F=128, 6 interactions, 20 Gaussians,
cutoff 5 Å, float32:
  * ASE's VelocityVerlet + zoo.ase.ZooCalculator on the TorchScript `.pt` and the AOTInductor `.pt2`
    (avx2, and avx512 where the CPU has it);
  * LAMMPS `fix nve` + `pair_style schnet` (the top-level CMake build's plugin) on the same artifacts;
  * ASE's VelocityVerlet + SchNetPack's SpkCalculator (MatScipy neighbour list, its default), when
    schnetpack is installed (docs/RESULTS.md says how), with zoo's weights copied in
    (compare_schnetpack.spk_model): both tools integrate the same potential; the script checks that
    their forces agree before timing;
  * with --filter-table N, zoo's artifacts exported with filter tables too (export/SPEC.md).
With --device cuda both ASE calculators evaluate on the GPU (the paper's setting), zoo's also with CUDA
graphs (ZooCalculator(cuda_graphs=True)); the `.pt2` and LAMMPS rows are CPU-only and left out there.
With --checkpoint (a zoo training checkpoint of that architecture) every model carries trained
weights; without, a fresh SchNet (seed 0), under which the molecule may fly apart. The table prints
the pair count at the end of each run (72 = all 9 x 8 ordered pairs within 5 Å).
Each sample runs in a fresh process; rounds are interleaved; the table shows the median ms per step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
from common import MALONALDEHYDE  # noqa: E402

PAPER_MS = 11.0  # SchNetPack paper, malonaldehyde MD on a P100
TIMESTEP_FS = 0.5


def molecule():  # type: ignore[no-untyped-def]
    from ase import Atoms

    d = np.load(MALONALDEHYDE)
    return Atoms(numbers=d["z"], positions=d["R"][0])


def start_velocities(atoms) -> None:  # type: ignore[no-untyped-def]
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation

    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(4928459))
    Stationary(atoms)
    ZeroRotation(atoms)


def n_pairs(positions: np.ndarray, cutoff: float = 5.0) -> int:
    d = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    return int(((d < cutoff) & (d > 0)).sum())


# ------------------------------------------------------------------------------- one sample each
def ase_sample(calc_kind: str, artifact: str, steps: int, device: str = "cpu") -> dict[str, float]:
    """ms per VelocityVerlet step with ZooCalculator ('zoo') or SchNetPack's SpkCalculator ('spk')."""
    from ase import units
    from ase.md.verlet import VelocityVerlet

    atoms = molecule()
    if calc_kind in ("zoo", "zoo-graphs"):  # zoo-graphs: on a GPU, with CUDA graphs (zoo.cuda_graph)
        from zoo.ase import ZooCalculator

        atoms.calc = ZooCalculator(artifact, device=device, cuda_graphs=calc_kind == "zoo-graphs")
    else:
        import compare_schnetpack as cs  # beside this script, so on sys.path

        cs.DEVICE = device
        spk = cs.import_schnetpack()
        atoms.calc = cs.spk_calculator(spk, Path(artifact))
    start_velocities(atoms)
    dyn = VelocityVerlet(atoms, timestep=TIMESTEP_FS * units.fs)
    dyn.run(max(steps // 10, 20))  # warm-up: TorchScript profiling runs, first allocations
    t = time.perf_counter()
    dyn.run(steps)
    ms = 1000 * (time.perf_counter() - t) / steps
    return {"ms": ms, "pairs": n_pairs(atoms.get_positions())}


def lammps_sample(plugin: str, artifact: str, steps: int, workdir: Path) -> dict[str, float]:
    sys.path.insert(0, str(REPO / "lammps_plugin" / "tools"))
    import lmp_tools

    atoms = molecule()
    atoms.center(vacuum=15.0)
    species = ["H", "C", "O"]
    lmp_tools.write_data(atoms, workdir / "mol.data", species=species)
    script = lmp_tools.schnet_input("mol.data", plugin, artifact, species) + f"""
velocity all create 300 4928459 mom yes rot yes dist gaussian
timestep {TIMESTEP_FS / 1000}
neighbor 1.0 bin
fix 1 all nve
thermo 1000000
run {max(steps // 10, 20)}
run {steps}
write_dump all custom end.dump id x y z
"""
    proc = lmp_tools.run_lmp(script, workdir, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"LAMMPS failed:\n{proc.stdout[-3000:]}")
    end = lmp_tools.read_dump(workdir / "end.dump")[:, 1:4]
    return {"ms": 1000 * lmp_tools.loop_time(proc.stdout) / steps, "pairs": n_pairs(end)}


def worker(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    if args.kind == "lammps":
        with tempfile.TemporaryDirectory(prefix="zoo_md_step_") as tmp:
            res = lammps_sample(args.plugin, args.artifact, args.steps, Path(tmp))
    else:
        res = ase_sample(args.kind, args.artifact, args.steps, args.device)
    print(json.dumps(res))


# ------------------------------------------------------------------------------------------ driver
def artifacts(tmp: Path, checkpoint: Path | None, table: int = 0, device: str = "cpu") -> dict[str, Path]:
    """zoo's .pt and .pt2 (avx2, avx512 where available) of the paper's SchNet (with ``table`` > 0 also
    exported with filter tables), and SchNetPack's pickled model if installed."""
    import compare_schnetpack as cs  # beside this script, so on sys.path
    import torch

    from zoo.export import export_model

    model, cfg = cs.zoo_model()
    if checkpoint is not None:
        from zoo.train.checkpoint import load_model

        model, ckpt = load_model(checkpoint)
        cfg = ckpt["config"]
        rep = cfg["representation"]
        size = (rep.get("n_atom_basis"), rep.get("n_interactions"), rep.get("n_rbf"))
        if size != (cs.F, cs.N_INTER, cs.N_RBF):
            raise SystemExit(f"{checkpoint}: not the paper's SchNet (F={cs.F}, {cs.N_INTER} interactions)")
    created = "2026-01-01T00:00:00+00:00"
    out = {"zoo .pt": tmp / "zoo.pt"}
    export_model(model, cfg, out["zoo .pt"], created=created)
    cs.DEVICE = device  # no .pt2 on a GPU (cs.aoti_artifacts)
    for path, isa in cs.aoti_artifacts(tmp).items():  # avx2, and avx512 where this CPU has it
        out[f"zoo .pt2 {isa}"] = path
        export_model(model, cfg, path, fmt="aoti", isa=isa, created=created)
    if table:  # export/SPEC.md "Filter tables"
        out["zoo .pt, tables"] = tmp / "zoo_table.pt"
        export_model(model, cfg, out["zoo .pt, tables"], created=created, filter_table=table)
        for path, isa in cs.aoti_artifacts(tmp, "_table").items():
            out[f"zoo .pt2 {isa}, tables"] = path
            export_model(model, cfg, path, fmt="aoti", isa=isa, created=created, filter_table=table)
    try:
        spk = cs.import_schnetpack()
    except ImportError:
        print("schnetpack not installed: its row is skipped (docs/RESULTS.md says how to install it)")
        return out
    smodel = cs.spk_model(spk, zoo=model)  # zoo's weights: the same function
    torch.save(smodel, tmp / "spk.pt")
    from zoo.ase import ZooCalculator

    spk_calc = cs.spk_calculator(spk, tmp / "spk.pt")
    dF = cs.check_same_function(ZooCalculator(out["zoo .pt"], device=device), spk_calc, molecule())
    print(f"zoo and SchNetPack forces agree to {dF:.2g} eV/Å on the first configuration")
    out["SchNetPack"] = tmp / "spk.pt"
    return out


def run_sample(kind: str, artifact: Path, args: argparse.Namespace) -> dict[str, float]:
    cmd = [sys.executable, str(HERE), "--worker", kind, "--artifact", str(artifact),
           "--steps", str(args.steps), "--threads", str(args.threads), "--plugin", str(args.plugin or ""),
           "--device", args.device]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} {artifact.name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, default=None, help="a trained zoo checkpoint of that SchNet")
    ap.add_argument("--steps", type=int, default=2000, help="timed MD steps per sample")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--plugin", type=Path, default=None, help="libzoo_lammps.so (default: the CMake build)")
    ap.add_argument("--no-lammps", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda for the ASE calculators (no LAMMPS, .pt2)")
    ap.add_argument(
        "--filter-table", type=int, default=0, metavar="N",
        help="also run zoo's artifacts with filter tables on N intervals (zoo export --filter-table)",
    )
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--artifact", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.kind = args.worker
        worker(args)
        return
    args.no_lammps = args.no_lammps or args.device != "cpu"
    if not args.no_lammps and args.plugin is None:
        sys.path.insert(0, str(REPO / "tests"))
        import cpp_build

        args.plugin = cpp_build.build() / "lammps_plugin" / "libzoo_lammps.so"
    with tempfile.TemporaryDirectory(prefix="zoo_md_step_") as tmp:
        arts = artifacts(Path(tmp), args.checkpoint, args.filter_table, args.device)
        rows: list[tuple[str, str, Path]] = []
        for name, path in arts.items():
            if name.startswith("zoo"):
                rows.append((f"ASE + ZooCalculator, {name[4:]}", "zoo", path))
                if args.device != "cpu":
                    rows.append((f"ASE + ZooCalculator, {name[4:]}, CUDA graphs", "zoo-graphs", path))
                if not args.no_lammps:
                    rows.append((f"LAMMPS pair_style schnet, {name[4:]}", "lammps", path))
            else:
                rows.append(("ASE + SchNetPack SpkCalculator", "spk", path))
        samples: dict[str, list[dict[str, float]]] = {r[0]: [] for r in rows}
        for i in range(args.rounds):
            for label, kind, path in rows:
                res = run_sample(kind, path, args)
                samples[label].append(res)
                print(f"round {i + 1}: {label}: {res['ms']:.3f} ms/step, {res['pairs']} pairs at the end",
                      flush=True)
    spk_ms = statistics.median(s["ms"] for s in samples["ASE + SchNetPack SpkCalculator"]) if (
        "ASE + SchNetPack SpkCalculator" in samples) else None
    print(f"\nmalonaldehyde NVE, {TIMESTEP_FS} fs, {args.steps} timed steps, median of {args.rounds} fresh "
          f"processes, {args.threads} thread(s), SchNet F=128 x 6, float32, device {args.device}"
          f"{', weights ' + str(args.checkpoint) if args.checkpoint else ', fresh weights'}")
    where = "this CPU" if args.device == "cpu" else "this GPU"
    hdr = f"| consumer | ms/step | vs paper's 11 ms (P100) | vs SchNetPack ({where}) | pairs at end |"
    print(hdr + "\n|---|---:|---:|---:|---:|")
    for label, _, _ in rows:
        ms = statistics.median(s["ms"] for s in samples[label])
        pairs = min(int(s["pairs"]) for s in samples[label])
        vs_spk = f"{spk_ms / ms:.1f}x" if spk_ms else "-"
        print(f"| {label} | {ms:.3f} | {PAPER_MS / ms:.1f}x | {vs_spk} | {pairs} |")


if __name__ == "__main__":
    main()

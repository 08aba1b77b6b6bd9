"""Per-call latency of the C++ runtime (zoo::Model) on a SchNet artifact, plus size scaling.

    python benchmarks/cpp_latency.py                      # latency table + scaling table, CPU
    python benchmarks/cpp_latency.py --threads 4 --device cuda --scaling 1000,10000,100000

Systems: the 9-atom malonaldehyde molecule (first frame of the xTB MD data, non-periodic) and a
1,536-atom water box (the 192-atom DeePMD water frame replicated 2x2x2, periodic); scaling: the water
frame replicated to about 1k..100k atoms. The artifact is exported with `zoo.export.export_model` from
`zoo.model.build_model(default_config("schnet", [1, 6, 8], ...))` (random weights: latency does not
depend on them); `--scaling-config small` uses 64 features / 3 interactions for the scaling sweep so
that large systems fit in memory. Without zoo.export the pair-potential test artifact is used.

Columns: neighbours = cell-list search alone; pairs = Model::compute_pairs with a precomputed list
(the LAMMPS path); compute = Model::compute (search + forward + autograd forces/virial + copies);
python = the same artifact called from Python with the same pairs (torch.jit, same thread count).
GFLOP = matrix-multiply FLOPs of one call (torch.profiler, forward + autograd), efficiency = achieved
GFLOP/s in `compute` over the measured single-precision GEMM rate of this machine at the same threads.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(1, str(REPO))  # zoo, when it is not installed
import cpp_build  # noqa: E402
from common import MALONALDEHYDE, water_box  # noqa: E402


class Structure:
    def __init__(self, numbers, positions, cell=None, pbc=(False, False, False)):
        self.numbers = np.asarray(numbers, dtype=np.int64)
        self.positions = np.asarray(positions, dtype=np.float64)
        self.cell = np.zeros((3, 3)) if cell is None else np.asarray(cell, dtype=np.float64)
        self.pbc = tuple(bool(p) for p in pbc)

    def __len__(self) -> int:
        return len(self.numbers)

    def repeat(self, reps) -> Structure:
        reps = (reps,) * 3 if isinstance(reps, int) else tuple(reps)
        offsets = [
            np.array([a, b, c]) @ self.cell
            for a in range(reps[0])
            for b in range(reps[1])
            for c in range(reps[2])
        ]
        return Structure(
            np.tile(self.numbers, len(offsets)),
            np.concatenate([self.positions + o for o in offsets]),
            self.cell * np.array(reps)[:, None],
            self.pbc,
        )

    def write_xyz(self, path: Path) -> None:
        symbols = {1: "H", 6: "C", 7: "N", 8: "O"}
        lines = [str(len(self))]
        if any(self.pbc):
            lattice = " ".join(f"{x:.10f}" for x in self.cell.ravel())
            pbc = " ".join("T" if p else "F" for p in self.pbc)
            lines.append(f'Lattice="{lattice}" Properties=species:S:1:pos:R:3 pbc="{pbc}"')
        else:
            lines.append("Properties=species:S:1:pos:R:3")
        lines += [
            f"{symbols[int(z)]} {x:.10f} {y:.10f} {w:.10f}"
            for z, (x, y, w) in zip(self.numbers, self.positions, strict=True)
        ]
        path.write_text("\n".join(lines) + "\n")


def water_frame() -> Structure:
    w = water_box(1)
    return Structure(w.numbers, w.positions, w.cell.array, (True, True, True))


def malonaldehyde() -> Structure:
    d = np.load(MALONALDEHYDE)
    return Structure(d["z"], d["R"][0])


def reps_for(target: int, base: int = 192) -> tuple[int, int, int]:
    """Near-cubic replication (a <= b <= c <= a + 1) with base*a*b*c closest to target."""
    cands = [(a, b, c) for a in range(1, 30) for b in (a, a + 1) for c in (b, b + 1) if c <= a + 1]
    return min(cands, key=lambda r: abs(base * math.prod(r) - target))


def export_schnet(path: Path, dtype: str, small: bool) -> str:
    try:
        from zoo.export import export_model
        from zoo.model import build_model, default_config
    except ImportError:
        out = path.parent / "pair_artifacts"
        subprocess.run(
            [sys.executable, str(REPO / "cpp_runtime/tests/make_test_artifact.py"), str(out)], check=True
        )
        return str(out / ("pair64.pt" if dtype == "float64" else "pair32.pt"))
    cfg = default_config("schnet", [1, 6, 8], ["energy", "forces"])
    if small:
        cfg["representation"].update(n_atom_basis=64, n_interactions=3)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    export_model(model, cfg, path, dtype=dtype)
    return str(path)


def run_bench(exe: Path, artifact: str, xyz: Path, args, extra: list[str] = ()) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    cmd = [str(exe), artifact, str(xyz), "--repeat", str(args.repeat), "--warmup", str(args.warmup)]
    cmd += ["--min-time", str(args.min_time), "--device", args.device, *extra]
    proc = subprocess.run(cmd, capture_output=True, env=env, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout)  # includes peak_rss_mb (VmHWM of zoo-bench)


def python_forward_ms(artifact: str, atoms, args) -> tuple[float, float]:
    """(median ms of the Python torch.jit call with precomputed pairs, matmul GFLOP of one call)."""
    from zoo.neighbors import neighbor_list

    torch.set_num_threads(args.threads)
    extra = {"metadata.json": ""}
    dev = torch.device(args.device)
    module = torch.jit.load(artifact, map_location=dev, _extra_files=extra)
    meta = json.loads(extra["metadata.json"])
    dt = torch.float64 if meta["dtype"] == "float64" else torch.float32
    pos = torch.tensor(atoms.positions)
    edge_index, shifts = neighbor_list(pos, meta["cutoff"], torch.tensor(atoms.cell), torch.tensor(atoms.pbc))
    inputs = (
        pos.to(dev, dt),
        torch.tensor(atoms.numbers, device=dev),
        edge_index.to(dev),
        shifts.to(dev, dt),
        len(atoms),
    )
    for _ in range(args.warmup):
        module(*inputs)
    times = []
    t_end = time.perf_counter() + args.min_time
    while len(times) < args.repeat or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        out = module(*inputs)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    del out
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        module(*inputs)
    flops = sum(e.flops for e in prof.key_averages() if e.flops)
    return float(np.median(times)), flops / 1e9


def gemm_gflops(threads: int, dtype: torch.dtype, device: str) -> float:
    torch.set_num_threads(threads)
    n = 2048 if device == "cuda" else 1024
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    for _ in range(3):
        a @ b
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 1.0:
        a @ b
        reps += 1
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (OMP_NUM_THREADS)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--min-time", type=float, default=1.0, help="seconds per timed phase (at least)")
    p.add_argument("--scaling", default="1000,2000,5000", help="comma-separated target atom counts")
    p.add_argument("--scaling-config", default="small", choices=["default", "small"])
    p.add_argument(
        "--neighbors-only-above",
        type=int,
        default=20000,
        help="above this many atoms only the neighbour search is timed (memory)",
    )
    p.add_argument("--no-python", action="store_true", help="skip the Python comparison and FLOP count")
    p.add_argument("--json-out", type=Path)
    p.add_argument("--artifact", help="use this artifact for the latency table instead of exporting one")
    p.add_argument("--scaling-artifact", help="use this artifact for the scaling table")
    p.add_argument("--export-to", type=Path, help="keep the exported artifacts in this folder")
    args = p.parse_args()

    build = cpp_build.build(targets=["zoo-bench"])
    exe = build / "cpp_runtime" / "zoo-bench"
    results: dict = {
        "threads": args.threads,
        "device": args.device,
        "dtype": args.dtype,
        "latency": [],
        "scaling": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        where = args.export_to or tmp
        where.mkdir(parents=True, exist_ok=True)
        art = args.artifact or export_schnet(where / f"schnet_{args.dtype}.pt", args.dtype, small=False)
        art_scaling = args.scaling_artifact
        if art_scaling is None:
            small = args.scaling_config == "small"
            art_scaling = (
                export_schnet(where / f"schnet_small_{args.dtype}.pt", args.dtype, small=True)
                if small
                else art
            )
        water = water_frame()
        peak = None if args.no_python else gemm_gflops(args.threads, getattr(torch, args.dtype), args.device)
        results["gemm_gflops"] = peak
        for name, atoms in (("malonaldehyde", malonaldehyde()), ("water 2x2x2", water.repeat(2))):
            xyz = tmp / "s.xyz"
            atoms.write_xyz(xyz)
            r = run_bench(exe, art, xyz, args)
            r["system"] = name
            if not args.no_python:
                r["python_ms"], r["gflop"] = python_forward_ms(art, atoms, args)
            results["latency"].append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
        for target in (int(s) for s in args.scaling.split(",") if s):
            reps = reps_for(target)
            xyz = tmp / "s.xyz"
            water.repeat(reps).write_xyz(xyz)
            extra = ["--no-model"] if target > args.neighbors_only_above else []
            r = run_bench(exe, art_scaling, xyz, args, extra)
            r["reps"] = reps
            results["scaling"].append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)

    def ms(r, key):
        return f"{r[key]['median_ms']:.3f}" if key in r else "-"

    dev = f"{args.device}, {args.threads} thread(s), {args.dtype}, torch {torch.__version__}"
    print(f"\nLatency per call, SchNet (128 features, 6 interactions, 20 RBF, cutoff 5 A) [{dev}]")
    print("median ms (min ms in brackets)")
    hdr = (
        f"{'system':<15}{'atoms':>7}{'pairs':>9}{'neighbours':>12}{'pairs':>20}{'compute':>20}{'python':>10}"
    )
    print(hdr + f"{'GFLOP':>8}{'GFLOP/s':>9}{'eff.':>7}{'RSS MB':>8}")
    for r in results["latency"]:
        line = f"{r['system']:<15}{r['atoms']:>7}{r['pairs']:>9}{ms(r, 'neighbors'):>12}"
        for key in ("compute_pairs", "compute"):
            cell = f"{r[key]['median_ms']:.2f} ({r[key]['min_ms']:.2f})"
            line += f"{cell:>20}"
        if "python_ms" in r:
            rate = r["gflop"] / (r["compute"]["min_ms"] / 1e3)
            line += f"{r['python_ms']:>10.2f}{r['gflop']:>8.2f}{rate:>9.1f}{100 * rate / peak:>6.0f}%"
        else:
            line += f"{'-':>10}{'-':>8}{'-':>9}{'-':>7}"
        print(line + f"{r['peak_rss_mb']:>8.0f}")
    if peak:
        print(
            f"(efficiency: matmul GFLOP / min compute time, over the measured {args.dtype} GEMM rate "
            f"{peak:.0f} GFLOP/s)"
        )
    cfg = "64 features, 3 interactions" if args.scaling_config == "small" else "128 features, 6 interactions"
    print(f"\nScaling, water replicated, SchNet ({cfg}, cutoff 5 A) [{dev}]")
    print(f"{'atoms':>8}{'pairs':>10}{'neighbours ms':>15}{'compute ms':>12}{'us/atom':>9}{'RSS MB':>8}")
    for r in results["scaling"]:
        per = f"{1e3 * r['compute']['median_ms'] / r['atoms']:.1f}" if "compute" in r else "-"
        print(
            f"{r['atoms']:>8}{r['pairs']:>10}{ms(r, 'neighbors'):>15}{ms(r, 'compute'):>12}{per:>9}"
            f"{r['peak_rss_mb']:>8.0f}"
        )
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

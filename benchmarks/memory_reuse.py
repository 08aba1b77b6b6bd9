"""What keeping freed memory (zoo.memory.reuse_freed_memory / zoo::reuse_freed_memory) gains, per consumer.

    python benchmarks/memory_reuse.py [--rounds 3] [--threads 1]

Model: SchNet F=128, 6 interactions, 20 Gaussians, cutoff 5 Å, float32 (random weights, as in
compare_schnetpack.py), exported as TorchScript .pt and AOTInductor .pt2 (avx2; avx512 where the CPU
has it). System: the 1,536-atom periodic water box (79,984 pairs; each per-pair [6, P/2, 128] float32
tensor of the .pt2 is 123 MB, above glibc's largest mmap threshold of 32 MiB). Each round runs, for every
artifact, each consumer twice, in fresh processes, switched off and on:

* Python   ``load_artifact(...).compute`` on precomputed pairs (what ZooCalculator calls), with and
           without ``zoo.memory.reuse_freed_memory()`` first;
* C++      ``zoo-bench`` Model::compute (cell list + model), ``--release-memory`` for off;
* LAMMPS   ``pair_style schnet ... reuse_memory no|yes``, ms per NVE step (np 1).

The table gives the median over rounds of each process's median ms, the speed-up, and the C++ peak RSS
(released / reused). Needs the top-level CMake build (tests/cpp_build.py) for the C++ and LAMMPS rows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

PY_WORKER = """
import json, sys, time
import numpy as np, torch
sys.path.insert(0, {here!r})
import compare_schnetpack as cs
from zoo.export import load_artifact
from zoo.memory import reuse_freed_memory
from zoo.neighbors import neighbor_list
torch.set_num_threads({threads})
if sys.argv[2] == "on":
    reuse_freed_memory()
atoms = cs.water_box()
ei, sh = neighbor_list(torch.tensor(atoms.positions), cs.CUTOFF, torch.tensor(atoms.cell.array),
                       torch.tensor(atoms.pbc))
inputs = (atoms.positions.astype(np.float32), atoms.numbers, ei.numpy(), sh.numpy().astype(np.float32))
art = load_artifact(sys.argv[1])
art.compute(*inputs)
ms = []
for _ in range(3):
    t = time.perf_counter(); art.compute(*inputs); ms.append(1e3 * (time.perf_counter() - t))
print(json.dumps({{"median_ms": sorted(ms)[1]}}))
"""


def python_row(artifact: Path, on: bool, threads: int) -> float:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    code = PY_WORKER.format(here=str(HERE), threads=threads)
    out = subprocess.run([sys.executable, "-c", code, str(artifact), "on" if on else "off"],
                         capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])["median_ms"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import compare_schnetpack as cs
    import cpp_latency
    import lammps_throughput
    import torch

    from zoo.export import export_model
    from zoo.export.aoti import host_isas

    build = HERE.parent / "build" / "cmake"
    bench, plugin = build / "cpp_runtime" / "zoo-bench", build / "lammps_plugin" / "libzoo_lammps.so"
    torch.set_num_threads(args.threads)
    print(f"water box 1,536 atoms; SchNet F={cs.F}, {cs.N_INTER} blocks; threads {args.threads}; "
          f"{args.rounds} rounds; torch {torch.__version__}", flush=True)
    with tempfile.TemporaryDirectory(prefix="zoo_mem_") as tmpdir:
        tmp = Path(tmpdir)
        model, cfg = cs.zoo_model()
        arts = {"TorchScript .pt": tmp / "m.pt"}
        export_model(model, cfg, arts["TorchScript .pt"])
        for isa in ("avx2", "avx512"):
            if isa in host_isas():
                arts[f"AOTI {isa} .pt2"] = tmp / f"m_{isa}.pt2"
                export_model(model, cfg, arts[f"AOTI {isa} .pt2"], fmt="aoti", isa=isa)
        atoms = cs.water_box()
        xyz = tmp / "water.xyz"
        cpp_latency.Structure(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc).write_xyz(xyz)
        lmp_dir = tmp / "lammps"
        lmp_dir.mkdir()
        lmp_tools = lammps_throughput.lmp_tools
        lmp_tools.write_data(lmp_tools.water_atoms(0, (2, 2, 2)), lmp_dir / "water.data")
        ms: dict[tuple[str, str, bool], list[float]] = {}
        rss: dict[tuple[str, bool], list[float]] = {}
        for r in range(args.rounds):
            for name, art in arts.items():
                for on in (False, True):
                    ms.setdefault((name, "Python", on), []).append(python_row(art, on, args.threads))
                    if bench.exists():
                        extra = () if on else ("--release-memory",)
                        res = lammps_throughput.run_zoo_bench(bench, art, xyz, args.threads, 3, extra)
                        ms.setdefault((name, "C++", on), []).append(res["compute"]["median_ms"])
                        rss.setdefault((name, on), []).append(res["peak_rss_mb"])
                    if plugin.exists():
                        pair = (f"plugin load {plugin}\npair_style schnet {art} reuse_memory "
                                f"{'yes' if on else 'no'}\npair_coeff * * O H")
                        run = lammps_throughput.run_lammps(lmp_dir, "water.data", pair, 2, 5, args.threads, 1)
                        ms.setdefault((name, "LAMMPS", on), []).append(1e3 * run["per_step_s"])
            print(f"  round {r + 1} of {args.rounds} done", flush=True)
    print("\n| artifact | consumer | released ms | reused ms | speed-up | C++ peak RSS MiB |")
    print("|---|---|---:|---:|---:|---:|")
    for name in arts:
        for where in ("Python", "C++", "LAMMPS"):
            if (name, where, True) not in ms:
                continue
            off, on = (statistics.median(ms[(name, where, x)]) for x in (False, True))
            mem = ""
            if where == "C++":
                off_mb, on_mb = (statistics.median(rss[(name, x)]) for x in (False, True))
                mem = f"{off_mb:.0f} / {on_mb:.0f}"
            print(f"| {name} | {where} | {off:.0f} | {on:.0f} | {off / on:.2f}x | {mem} |")


if __name__ == "__main__":
    main()

"""Per-call cost of the exported call signature: eager ArtifactModule vs the frozen TorchScript artifact.

    python benchmarks/profile_artifact.py [--reps 2] [--rounds 3] [--threads 1] [--box 1] [--profile]

The same SchNet (F=128, 6 interactions, 20 Gaussians, cutoff 5 Å, float32, seeded weights) evaluated on
the same periodic water box (--box n: n x n x n copies of the 192-atom DeePMD frame) with the same pair
list, three ways, interleaved round by round: ``eager`` = zoo.model.ArtifactModule called directly,
``script`` = the artifact written by zoo.export.export_model and loaded with torch.jit.load (what
zoo.ase.ZooCalculator, the C++ runtime and LAMMPS run), ``script-noopt`` = the same under
torch.jit.optimized_execution(False). Prints median wall and CPU ms per call (energy, forces, virial).
--profile also prints torch.profiler's top operators of one call of each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import water_box  # noqa: E402
from profile_ab import _model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--box", type=int, default=1)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from zoo.export import export_model
    from zoo.model import ArtifactModule
    from zoo.neighbors import neighbor_list

    model, cfg = _model(torch.float32)
    atoms = water_box(args.box)
    pos = torch.tensor(atoms.get_positions(), dtype=torch.float32)
    cell = torch.tensor(atoms.cell.array)[None]
    ei, sh = neighbor_list(pos.double(), cfg["cutoff"], cell, torch.tensor(atoms.pbc)[None])
    sh = sh.float()
    z = torch.tensor(atoms.numbers)
    n = len(atoms)
    eager = ArtifactModule(model.float().eval())
    for p in eager.parameters():
        p.requires_grad_(False)
    with tempfile.TemporaryDirectory() as d:
        export_model(model.float(), cfg, Path(d) / "m.pt", created="2026-01-01T00:00:00+00:00")
        script = torch.jit.load(str(Path(d) / "m.pt"))

    def call_eager() -> None:
        eager(pos, z, ei, sh, n)

    def call_script() -> None:
        script(pos, z, ei, sh, n)

    def call_noopt() -> None:
        with torch.jit.optimized_execution(False):
            script(pos, z, ei, sh, n)

    ways = {"eager": call_eager, "script": call_script, "script-noopt": call_noopt}
    for f in ways.values():  # warm-up: TorchScript's profiling runs
        f()
        f()
    print(f"{n} atoms, {ei.shape[1]} pairs, threads {torch.get_num_threads()}, {args.rounds} rounds x "
          f"{args.reps} calls, median")
    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in ways}
    for _ in range(args.rounds):
        for name, f in ways.items():
            t, c = time.perf_counter(), time.process_time()
            for _ in range(args.reps):
                f()
            samples[name].append(
                (1000 * (time.perf_counter() - t) / args.reps, 1000 * (time.process_time() - c) / args.reps)
            )
    base = statistics.median(x[1] for x in samples["eager"])
    for name, s in samples.items():
        wall = statistics.median(x[0] for x in s)
        cpu = statistics.median(x[1] for x in s)
        print(f"{name:<13} wall {wall:9.1f} ms   CPU {cpu:9.1f} ms   CPU / eager {cpu / base:.2f}")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        for name, f in ways.items():
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                f()
            print(f"--- {name}")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))


if __name__ == "__main__":
    main()

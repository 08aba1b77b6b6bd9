"""Where a GPU MD step's time goes: the ASE step taken apart, layer by layer (a GPU machine; --device
cpu only dry-runs the script).

    python benchmarks/gpu_step_profile.py [--device cuda] [--calls 200]

For malonaldehyde (9 atoms) and the 1,536-atom water box, SchNet 128 x 6 float32 artifacts (fresh
weights; the timings do not depend on them), with and without CUDA graphs, it prints median ms of:

  md step      ASE VelocityVerlet step (the calculator call, ASE's integrator and state checks)
  calculator   ZooCalculator.get_forces after a 1e-4 Å move (input checks, Verlet list, model, results)
  model        the model call alone on the calculator's pairs: ZooArtifact.compute, or GraphRunner.run
               (inputs copied to the GPU, replay, outputs read back)
  replay       graph.replay() then synchronize (graphs only)
  GPU busy     CUDA-event time of 50 back-to-back replays / 50 (graphs only): the kernels themselves
  kernels      GPU kernels per model call (torch.profiler)

so that "host-bound" or "kernel-bound" is a measured statement, not a guess (docs/RESULTS.md, GPU).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MALONALDEHYDE, water_box  # noqa: E402


def _median_ms(fn: Any, calls: int) -> float:
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


TOP: list[str] = []  # the profiler's tables, printed after the summary


def _kernels(fn: Any, device: str, label: str) -> int | None:
    """GPU kernels in one call of ``fn``; keeps the profiler's top operators for the report."""
    if device == "cpu":
        return None
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=50)
    TOP.append(f"--- {label}: one call, top operators by host time\n{table}")
    return sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)


def profile_case(path: Path, atoms: Any, graphs: bool, device: str, calls: int, label: str) -> dict[str, Any]:
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from zoo.ase import ZooCalculator

    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)
    atoms = atoms.copy()
    atoms.calc = calc = ZooCalculator(str(path), device=device, cuda_graphs=graphs)
    row: dict[str, Any] = {}

    def move() -> None:
        atoms.positions += 1e-4
        atoms.get_forces()

    for _ in range(5):  # warm-up: TorchScript profiling runs, the capture
        move()
    dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    dyn.run(5)
    row["md step"] = _median_ms(lambda: dyn.run(1), calls)
    row["calculator"] = _median_ms(move, calls)
    pos = np.asarray(atoms.get_positions(), dtype=np.float64)
    z = np.asarray(atoms.numbers, dtype=np.int64)
    ei, sh = calc._pairs(pos, z, np.asarray(atoms.cell.array), np.asarray(atoms.pbc, dtype=bool))
    if calc.graphs is not None:
        runner = calc.graphs

        def model() -> None:
            runner.run(pos, z, ei, sh)

        row["model"] = _median_ms(model, calls)
        (entry,) = [e for e in runner._graphs.values() if e.get("list") is runner._list]
        graph = entry["graph"]

        def replay() -> None:
            graph.replay()
            sync()

        row["replay"] = _median_ms(replay, calls)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(50):
            graph.replay()
        end.record()
        sync()
        row["GPU busy"] = start.elapsed_time(end) / 50
        row["kernels"] = _kernels(replay, device, label)
    else:
        active = calc._active_pairs(pos, ei, sh)

        def model() -> None:
            calc.artifact.compute(pos, z, *active, len(z))
            sync()

        row["model"] = _median_ms(model, calls)
        row["kernels"] = _kernels(model, device, label)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda (the point), or cpu to dry-run the script")
    ap.add_argument("--calls", type=int, default=200, help="timed calls per measure (median)")
    ap.add_argument(
        "--small-rows",
        type=int,
        default=None,
        help="zoo.gpu_blas.SMALL_ROWS for this run (0: cuBLAS's own choice for every size, the A/B baseline)",
    )
    args = ap.parse_args()
    if args.small_rows is not None:
        import zoo.gpu_blas

        zoo.gpu_blas.SMALL_ROWS = args.small_rows
    from ase import Atoms

    from zoo.export import export_model
    from zoo.model import build_model, default_config

    torch.set_num_threads(1)
    d = np.load(MALONALDEHYDE)
    systems = {
        "malonaldehyde (9)": (Atoms(numbers=d["z"], positions=d["R"][0]), args.calls),
        "water box (1,536)": (water_box(2), max(10, args.calls // 10)),
    }
    name = torch.cuda.get_device_name() if args.device != "cpu" else "cpu"
    import zoo.gpu_blas

    print(
        f"device {name}, torch {torch.__version__}; SchNet 128 x 6 float32 .pt; median ms; "
        f"cuBLASLt below {zoo.gpu_blas.SMALL_ROWS} atoms (zoo.gpu_blas)"
    )
    cols = ["md step", "calculator", "model", "replay", "GPU busy", "kernels"]
    print(f"| system | CUDA graphs | {' | '.join(cols)} |\n|---|---|{'---:|' * len(cols)}")
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        config = default_config("schnet", [1, 6, 8], ["energy", "forces"])
        path = Path(tmp) / "schnet.pt"
        export_model(build_model(config), config, path)
        for sys_name, (atoms, calls) in systems.items():
            for graphs in (True, False):
                if graphs and args.device == "cpu":
                    continue
                label = f"{sys_name}, CUDA graphs {'on' if graphs else 'off'}"
                try:
                    row = profile_case(path, atoms, graphs, args.device, calls, label)
                except Exception as exc:  # one failed case must not lose the others' figures
                    print(f"| {sys_name} | {'yes' if graphs else 'no'} | failed: {exc!r:.300} |", flush=True)
                    continue
                cells = [
                    "-" if row.get(c) is None else (str(row[c]) if c == "kernels" else f"{row[c]:.3f}")
                    for c in cols
                ]
                print(f"| {sys_name} | {'yes' if graphs else 'no'} | {' | '.join(cells)} |", flush=True)
    print("\n".join(TOP))


if __name__ == "__main__":
    main()

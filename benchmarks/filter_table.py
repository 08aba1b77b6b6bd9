"""Filter tables before/after: the same SchNet exported with and without ``--filter-table`` (export/SPEC.md
"Filter tables"), timed in the same run through the C++ runtime and LAMMPS on periodic water boxes.

    python benchmarks/filter_table.py [--intervals 512] [--sizes 1536,12288] [--rounds 3] [--threads 1]
                                      [--checkpoint RUN/best.ckpt]

Model: the default SchNet of docs/RESULTS.md §1 (F=128, 6 interactions, 20 Gaussians, cutoff 5 Å, seed-0
weights, float32), or a trained checkpoint with --checkpoint (its species must cover H and O). Artifacts:
TorchScript ``.pt`` and AOTInductor ``.pt2`` (avx2, and avx512 where the CPU has it), each with the filter
networks and with tables. Systems: DeePMD-kit's 192-atom water frame (shared/data/water/data_0)
replicated to the sizes asked for. Per round and size, every artifact is timed once by ``zoo-bench``
(Model::compute: cell list + model + forces + virial; median of its calls) and once as ``pair_style
schnet`` in LAMMPS (ms per NVE step, np 1), interleaved; the table shows medians over rounds, the peak
resident memory of zoo-bench, and the ratio network/table. Needs the top-level CMake build
(tests/cpp_build.py). Also prints the tables' deviation from the networks (metadata ``filter_table``)
and the largest force difference on the first size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import compare_schnetpack as cs  # noqa: E402 (the shared model definition and water frame)
import cpp_latency  # noqa: E402
import lammps_throughput  # noqa: E402

BUILD = HERE.parent / "build" / "cmake"


def artifacts(tmp: Path, intervals: int, checkpoint: str | None) -> dict[str, Path]:
    from zoo.export import export_model, load_checkpoint
    from zoo.export.aoti import host_isas

    if checkpoint:
        model, ckpt = load_checkpoint(checkpoint)
        cfg = ckpt["config"]
    else:
        model, cfg = cs.zoo_model()
    created = "2026-01-01T00:00:00+00:00"
    out: dict[str, Path] = {}
    for table in (0, intervals):
        tag = "table" if table else "network"
        out[f".pt {tag}"] = tmp / f"{tag}.pt"
        meta = export_model(model, cfg, out[f".pt {tag}"], created=created, filter_table=table)
        if table:
            t = meta["filter_table"]
            print(
                f"tables: {t['intervals']} intervals of {t['step']:.4g} Å; largest deviation from the "
                f"networks {t['max_abs_error']:.2g} (values), {t['max_abs_slope_error']:.2g} /Å (slopes); "
                f"filters up to {t['max_abs_filter']:.2g}",
                flush=True,
            )
        for isa in ("avx2", "avx512"):
            if isa in host_isas():
                out[f".pt2 {isa} {tag}"] = tmp / f"{tag}_{isa}.pt2"
                path = out[f".pt2 {isa} {tag}"]
                export_model(model, cfg, path, fmt="aoti", isa=isa, created=created, filter_table=table)
    return out


def force_difference(arts: dict[str, Path], xyz: Path) -> float:
    zoo_run = BUILD / "cpp_runtime" / "zoo-run"
    forces = {}
    for key in (".pt network", ".pt table"):
        proc = cpp_latency.subprocess.run(
            [str(zoo_run), str(arts[key]), str(xyz), "--json"], capture_output=True, text=True, check=True
        )
        forces[key] = np.array(json.loads(proc.stdout.splitlines()[0])["forces"])
    return float(np.abs(forces[".pt network"] - forces[".pt table"]).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--intervals", type=int, default=512)
    ap.add_argument("--sizes", default="1536,12288", help="atoms: 192 x n^3")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoint", default=None, help="a trained checkpoint instead of seed-0 weights")
    ap.add_argument("--no-lammps", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    bench, plugin = BUILD / "cpp_runtime" / "zoo-bench", BUILD / "lammps_plugin" / "libzoo_lammps.so"
    if not bench.exists():
        raise SystemExit(f"no {bench}: build the project with CMake first (tests/cpp_build.py)")
    lmp_tools = lammps_throughput.lmp_tools
    with tempfile.TemporaryDirectory(prefix="zoo_filter_table_") as tmpdir:
        tmp = Path(tmpdir)
        arts = artifacts(tmp, args.intervals, args.checkpoint)
        sizes = [int(s) for s in args.sizes.split(",")]
        systems = {}
        for n in sizes:
            rep = round((n / 192) ** (1 / 3))
            atoms = lmp_tools.water_atoms(0, (rep, rep, rep))
            xyz = tmp / f"water{len(atoms)}.xyz"
            cpp_latency.Structure(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc).write_xyz(xyz)
            data = f"water{len(atoms)}.data"
            lmp_tools.write_data(atoms, tmp / data)
            systems[len(atoms)] = (xyz, data)
        first = next(iter(systems.values()))[0]
        dev = force_difference(arts, first)
        print(f"largest force difference network vs table (C++, float32): {dev:.2g} eV/Å")
        samples: dict[tuple[int, str, str], list[float]] = {}
        rss: dict[tuple[int, str], list[float]] = {}
        for r in range(args.rounds):
            for n, (xyz, data) in systems.items():
                for name, art in arts.items():
                    res = lammps_throughput.run_zoo_bench(bench, art, xyz, args.threads, 3 if n < 5000 else 1)
                    samples.setdefault((n, name, "C++"), []).append(res["compute"]["median_ms"])
                    rss.setdefault((n, name), []).append(res["peak_rss_mb"])
                    if not args.no_lammps and plugin.exists():
                        pair = f"plugin load {plugin}\npair_style schnet {art}\npair_coeff * * O H"
                        run = lammps_throughput.run_lammps(tmp, data, pair, 1, 3, args.threads, 1)
                        samples.setdefault((n, name, "LAMMPS"), []).append(1e3 * run["per_step_s"])
            print(f"  round {r + 1} of {args.rounds} done", flush=True)
    med = {k: statistics.median(v) for k, v in samples.items()}
    print("\n| atoms | consumer | artifact | network ms | table ms | network/table | peak MiB net / table |")
    print("|---:|---|---|---:|---:|---:|---|")
    for n in systems:
        for where in ("C++", "LAMMPS"):
            for name in arts:
                if not name.endswith("network") or (n, name, where) not in med:
                    continue
                tab = name.replace("network", "table")
                a, b = med[(n, name, where)], med[(n, tab, where)]
                mem = ""
                if where == "C++":
                    mem = f"{statistics.median(rss[(n, name)]):.0f} / {statistics.median(rss[(n, tab)]):.0f}"
                unit = "ms/call" if where == "C++" else "ms/step"
                label = name.rsplit(" ", 1)[0]
                print(f"| {n} | {where} ({unit}) | {label} | {a:.1f} | {b:.1f} | {a / b:.2f}x | {mem} |")


if __name__ == "__main__":
    main()

"""LAMMPS throughput of pair_style schnet on water boxes, against the C++ runtime alone and lj/cut.

    python benchmarks/lammps_throughput.py [--model M.pt] [--sizes 1536,12288,98304] [--threads 1]

For each box (the 192-atom DeePMD water frame repeated n x n x n) it prints
  * LAMMPS + pair_style schnet: timesteps/s and atom-steps/s of NVE MD (0.5 fs, 300 K start, np = 1),
    measured on a second `run` after a warm-up `run` (TorchScript optimises on its first calls);
  * the C++ runtime alone: `zoo-bench` (cpp_runtime/bench) Model::compute on the same periodic box
    (its own cell list, no ghost atoms) and Model::compute_pairs with a precomputed pair list;
  * pair_style lj/cut with the model's cutoff as a floor (what LAMMPS itself costs per step).
A size is skipped when its estimated LAMMPS time (extrapolated per atom from the previous size) is over
--max-seconds (default 120 s); the table says so.

The plugin and zoo-bench come from the top-level CMake build (tests/cpp_build.py, build/cmake);
--plugin / --zoo-bench override. Threads: OMP_NUM_THREADS = --threads for LAMMPS and zoo-bench alike.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lammps_plugin" / "tools"))
sys.path.insert(0, str(REPO / "tests"))

import lmp_tools  # noqa: E402

REPEATS = {192: 1, 1536: 2, 12288: 4, 98304: 8}
DEFAULT_MODELS = [
    REPO / "lammps_plugin" / "examples" / "schnet_water.pt",
    REPO / "export" / "golden" / "schnet_water_float64.pt",
]


def default_model() -> Path:
    for p in DEFAULT_MODELS:
        if p.exists():
            return p
    raise SystemExit("no model found; pass --model")


def lammps_script(data: str, pair: str, warm: int, steps: int) -> str:
    return f"""
units metal
atom_style atomic
boundary p p p
read_data {data}
{pair}
velocity all create 300 4928459 mom yes rot yes dist gaussian
timestep 0.0005
neighbor 1.0 bin
fix 1 all nve
thermo 1000000
run {warm}
run {steps}
"""


def run_lammps(workdir: Path, data: str, pair: str, warm: int, steps: int, threads: int, np_: int):
    t0 = time.perf_counter()
    proc = lmp_tools.run_lmp(lammps_script(data, pair, warm, steps), workdir, np_=np_, timeout=3600,
                             env={"OMP_NUM_THREADS": str(threads)})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"LAMMPS failed:\n{proc.stdout[-3000:]}")
    loop = lmp_tools.loop_time(proc.stdout)
    nghost = None
    for line in proc.stdout.splitlines():
        if line.startswith("Nghost:"):
            nghost = float(line.split()[1])
    return {"loop_s": loop, "per_step_s": loop / steps, "wall_s": wall, "nghost": nghost}


def run_zoo_bench(
    exe: Path, model: Path, xyz: Path, threads: int, repeat: int, extra: tuple[str, ...] = ()
) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run([str(exe), str(model), str(xyz), "--repeat", str(repeat), "--warmup", "1", *extra],
                         capture_output=True, text=True, env=env, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--sizes", default="1536,12288,98304", help="atoms: 192 x n^3 (192, 1536, 12288, 98304)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--np", type=int, default=1, help="MPI ranks for LAMMPS")
    ap.add_argument("--max-seconds", type=float, default=120.0)
    ap.add_argument("--plugin", type=Path, default=None)
    ap.add_argument("--zoo-bench", type=Path, default=None)
    ap.add_argument("--pair-extra", default="", help="extra pair_style schnet keywords, e.g. 'mode ghost'")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    a = ap.parse_args()

    model = a.model or default_model()
    if a.plugin is None or a.zoo_bench is None:
        import cpp_build

        build_dir = cpp_build.build()
        a.plugin = a.plugin or build_dir / "lammps_plugin" / "libzoo_lammps.so"
        a.zoo_bench = a.zoo_bench or build_dir / "cpp_runtime" / "zoo-bench"
    a.plugin, a.zoo_bench, model = a.plugin.resolve(), a.zoo_bench.resolve(), model.resolve()
    meta = __import__("toy_model").load_metadata(str(model))
    rc = meta["cutoff"]
    print(f"model {model.relative_to(REPO) if model.is_relative_to(REPO) else model}: {meta['model_kind']} "
          f"{meta['dtype']}, cutoff {rc} Å, {meta['interactions']} interaction(s); LAMMPS np={a.np}, "
          f"OMP_NUM_THREADS={a.threads}, pair_style schnet extra keywords: '{a.pair_extra}'")

    rows = []
    per_atom_step = None  # s per atom-step of the last measured size (for the skip estimate)
    with tempfile.TemporaryDirectory(prefix="zoo_lmp_bench_") as tmp:
        tmp = Path(tmp)
        for n_atoms in [int(s) for s in a.sizes.split(",")]:
            rep = REPEATS[n_atoms]
            warm, steps = (3, 20) if n_atoms <= 2000 else (2, 5) if n_atoms <= 20000 else (1, 2)
            row = {"atoms": n_atoms, "steps": steps}
            if per_atom_step is not None:
                est = per_atom_step * n_atoms * (warm + steps) * 1.3
                if est > a.max_seconds:
                    row["skipped"] = f"estimated {est:.0f} s > --max-seconds {a.max_seconds:.0f}"
                    rows.append(row)
                    print(f"{n_atoms} atoms: skipped ({row['skipped']})", flush=True)
                    continue
            atoms = lmp_tools.water_atoms(0, (rep, rep, rep))
            d = tmp / str(n_atoms)
            d.mkdir()
            lmp_tools.write_data(atoms, d / "water.data")
            atoms.write(d / "water.xyz", format="extxyz")

            pair = f"plugin load {a.plugin}\npair_style schnet {model} {a.pair_extra}\npair_coeff * * O H"
            s = run_lammps(d, "water.data", pair, warm, steps, a.threads, a.np)
            row.update(schnet_ms=1e3 * s["per_step_s"], nghost=s["nghost"])
            per_atom_step = s["per_step_s"] / n_atoms

            lj = f"pair_style lj/cut {rc}\npair_coeff * * 0.0001 1.0"
            lj_steps = max(50, 200000 // n_atoms)
            s_lj = run_lammps(d, "water.data", lj, 10, lj_steps, a.threads, a.np)
            row.update(lj_ms=1e3 * s_lj["per_step_s"])

            zb = run_zoo_bench(a.zoo_bench, model, d / "water.xyz", a.threads, 3 if n_atoms < 20000 else 1)
            row.update(cpp_compute_ms=zb["compute"]["median_ms"],
                       cpp_pairs_ms=zb["compute_pairs"]["median_ms"], pairs=zb["pairs"])
            rows.append(row)
            print(f"{n_atoms} atoms: schnet {row['schnet_ms']:.1f} ms/step, "
                  f"C++ compute {row['cpp_compute_ms']:.1f} ms, lj/cut {row['lj_ms']:.3f} ms/step",
                  flush=True)

    print()
    hdr = (f"{'atoms':>7} {'steps/s':>9} {'atom-steps/s':>13} {'ms/step':>9} {'ghosts':>8} "
           f"{'C++ compute ms':>15} {'LAMMPS/C++':>10} {'lj/cut ms':>10} {'schnet/lj':>10}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        if "skipped" in r:
            print(f"{r['atoms']:>7} skipped: {r['skipped']}")
            continue
        sps = 1e3 / r["schnet_ms"]
        ratio_cpp = r["schnet_ms"] / r["cpp_compute_ms"]
        print(f"{r['atoms']:>7} {sps:>9.3f} {sps * r['atoms']:>13.0f} {r['schnet_ms']:>9.1f} "
              f"{r['nghost']:>8.0f} {r['cpp_compute_ms']:>15.1f} {ratio_cpp:>10.2f} "
              f"{r['lj_ms']:>10.3f} {r['schnet_ms'] / r['lj_ms']:>10.0f}")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

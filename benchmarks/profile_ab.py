"""A/B timing of two versions of zoo's hot paths in the same run (interleaved A, B, A, B, ...).

    python benchmarks/profile_ab.py --before REV [--after REV|worktree] [--what train,calc,calc9]
                                    [--rounds 5] [--threads 1] [--check] [--filter-table N]

Each version's ``zoo`` package is taken from git (``git archive REV zoo``; ``worktree`` means the
files as they are now, a folder means its zoo/) into a temporary folder and imported from there in a
fresh subprocess per measurement, so both versions see the same machine load. Prints the median of
every measure per version and the ratio after/before, for wall time and for the process's CPU time
(time.process_time; with one thread it is the compute itself, much less sensitive to other processes
on the machine than wall time).

Measures (SchNet F=128, 6 interactions, 20 Gaussians, cutoff 5 Å, float32, torch threads --threads):
* train: ms per training step, batch 100 malonaldehyde, energy+forces (predict + loss + backward + Adam)
* calc: ms per energy+forces call of the TorchScript artifact through zoo.ase.ZooCalculator on the
  1,536-atom water box (2x2x2 of shared/data/water/data_0), positions jittered by 0.01 Å per call
* calc192: the same for one 192-atom water frame
* calc9: the same for the 9-atom malonaldehyde molecule
* md9: ms per ASE VelocityVerlet step (0.5 fs) of malonaldehyde with that calculator (--reps x 50 steps)

With ``--filter-table N`` the calculator measures export the artifact with filter tables on N intervals
(``zoo export --filter-table N``, export/SPEC.md "Filter tables").

``--check`` also evaluates a float64 model with both versions (energies, forces, stress on a periodic
water frame, and the parameter gradient of the energy+forces loss) and prints the largest relative
difference: performance edits must keep the numbers identical to float64 precision.
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

HERE = Path(__file__).resolve()
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))
from common import water_box  # noqa: E402


# ----------------------------------------------------------------------------- worker (in subprocess)
def _model(dtype):  # type: ignore[no-untyped-def]
    import torch

    from zoo.model import build_model, default_config

    cfg = default_config("schnet", [1, 6, 8], ["energy", "forces"])
    torch.manual_seed(0)
    m = build_model(cfg)
    with torch.no_grad():  # non-trivial output scale so that the check sees real forces
        for p in m.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return m.to(dtype), cfg


def _batches(n: int, dtype):  # type: ignore[no-untyped-def]
    import torch

    from zoo.data import sample_path
    from zoo.data.dataset import AtomsDataset
    from zoo.data.loader import make_loader
    from zoo.train.step import to_device

    ds = AtomsDataset(sample_path("malonaldehyde"))
    torch.manual_seed(1)
    loader = make_loader(ds, None, 100, shuffle=False)
    return [to_device(b, torch.device("cpu"), dtype) for b, _ in zip(loader, range(n), strict=False)]


def work_train(reps: int) -> tuple[float, float]:
    import torch

    from zoo.train.loss import loss_fn, property_weights
    from zoo.train.step import predict

    model, _ = _model(torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    weights = property_weights(["energy", "forces"], model.energy_key, 0.01)
    batches = _batches(reps + 2, torch.float32)

    def step(b):  # type: ignore[no-untyped-def]
        out = predict(model, b, ["energy", "forces"], create_graph=True)
        loss = loss_fn(out, b, weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for b in batches[:2]:
        step(b)
    t, c = time.perf_counter(), time.process_time()
    for b in batches[2:]:
        step(b)
    return 1000 * (time.perf_counter() - t) / reps, 1000 * (time.process_time() - c) / reps


def calculator_call(model, cfg, atoms, table: int = 0):  # type: ignore[no-untyped-def]
    """Attach a ZooCalculator on a float32 TorchScript export of ``model`` (with filter tables on ``table``
    intervals if > 0) to ``atoms``; returns a function doing one energy + forces call on positions
    freshly jittered by 0.01 Å (no ASE cache)."""
    import numpy as np

    from zoo.ase import ZooCalculator
    from zoo.export import export_model

    with tempfile.TemporaryDirectory() as tmp:
        extra = {"filter_table": table} if table else {}
        export_model(model.float(), cfg, Path(tmp) / "m.pt", created="2026-01-01T00:00:00+00:00", **extra)
        atoms.calc = ZooCalculator(Path(tmp) / "m.pt")
    ref = atoms.get_positions()
    rng = np.random.default_rng(0)

    def call() -> None:
        atoms.set_positions(ref + rng.normal(scale=0.01, size=ref.shape))
        atoms.get_potential_energy()
        atoms.get_forces()

    return call


def work_calc(reps: int, rep: int, table: int) -> tuple[float, float]:
    import torch

    from zoo.data import sample_path
    from zoo.data.dataset import AtomsDataset

    model, cfg = _model(torch.float32)
    atoms = water_box(rep) if rep else AtomsDataset(sample_path("malonaldehyde")).to_atoms(0)
    call = calculator_call(model, cfg, atoms, table)
    for _ in range(2):  # TorchScript profiling runs
        call()
    t, c = time.perf_counter(), time.process_time()
    for _ in range(reps):
        call()
    return 1000 * (time.perf_counter() - t) / reps, 1000 * (time.process_time() - c) / reps


def work_md(steps: int, table: int) -> tuple[float, float]:
    """ms per ASE VelocityVerlet step (0.5 fs) of malonaldehyde with ZooCalculator on the .pt export."""
    import torch
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from zoo.data import sample_path
    from zoo.data.dataset import AtomsDataset

    model, cfg = _model(torch.float32)
    atoms = AtomsDataset(sample_path("malonaldehyde")).to_atoms(0)
    calculator_call(model, cfg, atoms, table)
    dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    dyn.run(20)  # TorchScript profiling runs
    t, c = time.perf_counter(), time.process_time()
    dyn.run(steps)
    return 1000 * (time.perf_counter() - t) / steps, 1000 * (time.process_time() - c) / steps


def work_check(out: str) -> None:
    import numpy as np
    import torch

    from zoo.data import keys
    from zoo.model import ArtifactModule
    from zoo.neighbors import neighbor_list
    from zoo.train.loss import loss_fn, property_weights
    from zoo.train.step import predict

    torch.set_default_dtype(torch.float64)
    model, _ = _model(torch.float64)
    res: dict[str, np.ndarray] = {}
    b = _batches(1, torch.float64)[0]
    pred = predict(model, b, ["energy", "forces"], create_graph=True)
    loss = loss_fn(pred, b, property_weights(["energy", "forces"], model.energy_key, 0.01))
    grads = torch.autograd.grad(loss, list(model.parameters()))
    res["energy"] = pred["energy"].detach().numpy()
    res["forces"] = pred["forces"].detach().numpy()
    res["grad"] = torch.cat([g.flatten() for g in grads]).numpy()
    w = water_box(1)
    pos = torch.tensor(w.get_positions())
    batch = {
        keys.Z: torch.tensor(w.numbers), keys.R: pos, keys.cell: torch.tensor(w.cell.array)[None],
        keys.pbc: torch.tensor(w.pbc)[None], keys.idx_m: torch.zeros(len(w), dtype=torch.long),
        keys.n_atoms: torch.tensor([len(w)]),
    }
    p2 = predict(model, batch, ["energy", "forces", "stress"], create_graph=False)
    for k in ("energy", "forces", "stress"):
        res["water_" + k] = p2[k].detach().numpy()
    ei, sh = neighbor_list(pos, 5.0, batch[keys.cell], batch[keys.pbc])
    art = ArtifactModule(model)(pos, batch[keys.Z], ei, sh, len(w))
    for k in ("energy", "forces", "virial"):
        res["artifact_" + k] = art[k].numpy()
    np.savez(out, **res)


def worker(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    if args.worker == "check":
        work_check(args.out)
        return
    ms = {
        "train": lambda: work_train(args.reps),
        "calc": lambda: work_calc(max(1, args.reps // 3), 2, args.filter_table),
        "calc192": lambda: work_calc(args.reps, 1, args.filter_table),
        "calc9": lambda: work_calc(args.reps * 10, 0, args.filter_table),
        "md9": lambda: work_md(args.reps * 50, args.filter_table),
    }[args.worker]()
    print(f"RESULT {ms[0]} {ms[1]}")


# ------------------------------------------------------------------------------------------ driver
def checkout(rev: str, dest: Path) -> Path:
    dest.mkdir(parents=True)
    if rev == "worktree" or Path(rev).is_dir():
        subprocess.run(["cp", "-r", str(REPO / "zoo" if rev == "worktree" else Path(rev) / "zoo"), str(dest)],
                       check=True)
    else:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", rev, "zoo"], check=True, capture_output=True
        )
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def run_worker(src: Path, what: str, args: argparse.Namespace, out: str = "") -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, str(HERE), "--worker", what, "--threads", str(args.threads)]
    cmd += ["--reps", str(args.reps), "--filter-table", str(args.filter_table)]
    if out:
        cmd += ["--out", out]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    if res.returncode != 0:
        sys.stderr.write(res.stdout[-3000:] + res.stderr[-3000:])
        raise SystemExit(f"worker {what} failed for {src}")
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
    return (float(lines[-1].split()[1]), float(lines[-1].split()[2])) if lines else (0.0, 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", default="HEAD")
    ap.add_argument("--after", default="worktree")
    ap.add_argument("--what", default="train,calc,calc9")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--reps", type=int, default=6, help="training steps per measurement (calls: /3 calc, x10 calc9)"
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--filter-table", type=int, default=0, help="calc/md measures: export with filter tables")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    with tempfile.TemporaryDirectory(prefix="zoo_ab_") as tmpdir:
        tmp = Path(tmpdir)
        src = {"before": checkout(args.before, tmp / "before"), "after": checkout(args.after, tmp / "after")}
        print(
            f"before = {args.before}, after = {args.after}; threads {args.threads}; "
            f"{args.rounds} rounds, median; filter tables: {args.filter_table or 'no'}"
        )
        if args.check:
            import numpy as np

            for name in src:
                run_worker(src[name], "check", args, str(tmp / f"{name}.npz"))
            a, b = np.load(tmp / "before.npz"), np.load(tmp / "after.npz")
            worst = 0.0
            for k in a.files:
                scale = max(float(np.abs(a[k]).max()), 1e-300)
                d = float(np.abs(a[k] - b[k]).max()) / scale
                worst = max(worst, d)
                print(f"  float64 check {k:<18} max |after - before| / max|before| = {d:.2e}")
            print(f"  worst relative difference: {worst:.2e}")
        for what in [w for w in args.what.split(",") if w]:
            samples: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
            for _ in range(args.rounds):
                for name in ("before", "after"):
                    samples[name].append(run_worker(src[name], what, args))
            for k, kind in ((0, "wall"), (1, "CPU ")):
                sb = [x[k] for x in samples["before"]]
                sa = [x[k] for x in samples["after"]]
                mb, ma = statistics.median(sb), statistics.median(sa)
                print(
                    f"{what:<7} {kind} before {mb:9.2f} ms  after {ma:9.2f} ms  after/before {ma / mb:.3f}"
                    f"   (before {json.dumps([round(x, 1) for x in sb])}, "
                    f"after {json.dumps([round(x, 1) for x in sa])})",
                    flush=True,
                )


if __name__ == "__main__":
    main()

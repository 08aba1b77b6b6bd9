"""GPU checks and figures in one run (CUDA machine; --device cpu only dry-runs the script here).

    python benchmarks/gpu_check.py [--device cuda]

1. Neighbour lists on the GPU equal those on the CPU (molecule batch, periodic water box).
2. SchNet/ACSF/wACSF energies and forces on the GPU equal the CPU within 1e-9 (float64).
3. Artifacts on the GPU (forces by zoo.explicit_forces): a float64 SchNet artifact gives the CPU's
   forces there; with filter tables (zoo export --filter-table), the operator zoo::cfconv_tab and its
   gradients equal the CPU's fused kernels, and the tabulated artifact gives the network's forces.
4. The ASE calculator with CUDA graphs (ZooCalculator(cuda_graphs=True), zoo.cuda_graph) gives the
   forces it gives without them, along displaced frames with neighbour-list rebuilds.
5. ASE calculator on the GPU: ms per energy+forces call and per Velocity-Verlet MD step for
   malonaldehyde (the SchNetPack paper reports 11 ms/step on a P100) and a 1,536-atom water box, for
   SchNet (with and without filter tables, with and without CUDA graphs) and wACSF, float32 artifacts,
   fresh weights.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from zoo.model import build_model, default_config
from zoo.neighbors import neighbor_list

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MALONALDEHYDE  # noqa: E402
from common import water_box as water_atoms

DEV = "cuda"


def water_box(reps: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions, atomic numbers, cell) of the water box of benchmarks/common.py."""
    w = water_atoms(reps)
    return w.positions, w.numbers, w.cell.array


def check_neighbors() -> None:
    pos, z, box = water_box(2)
    for dev in ("cpu", DEV):
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
            assert key == ref, f"{DEV} neighbour list differs from CPU"
    print(f"neighbour list {DEV} == CPU on {len(z)}-atom water box: {len(ref)} pairs")


def check_models() -> None:
    d = np.load(MALONALDEHYDE)
    pos, z = d["R"][:4].reshape(-1, 3), np.tile(d["z"], 4)
    idx_m = torch.arange(4).repeat_interleave(9)
    for kind in ("schnet", "acsf", "wacsf"):
        torch.manual_seed(0)
        model = build_model(default_config(kind, [1, 6, 8], ["energy", "forces"])).double()
        outs = []
        for dev in ("cpu", DEV):
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
        print(f"{kind}: {DEV} vs CPU float64 max |dE| = {de:.1e} eV, max |dF| = {df:.1e} eV/Å")


def check_filter_tables() -> None:
    """The operator on DEV vs the CPU's fused kernels (values and both gradients, float64), then a
    tabulated float64 SchNet artifact on DEV vs the network artifact on the CPU (water box)."""
    from zoo.ase import ZooCalculator
    from zoo.export import export_model
    from zoo.ops import load_kernels

    load_kernels()  # the CPU reference side: the fused kernels
    g = torch.Generator().manual_seed(0)
    n, p, f, cutoff, intervals = 300, 6000, 64, 5.0, 256
    h = torch.randn(n, f, generator=g, dtype=torch.float64)
    r = torch.rand(p, generator=g, dtype=torch.float64) * 1.1 * cutoff
    idx = torch.randint(0, n, (2, p), generator=g)
    table = torch.randn(intervals, 4, f, generator=g, dtype=torch.float64)
    weight = torch.randn(n, f, generator=g, dtype=torch.float64)
    res = []
    for dev in ("cpu", DEV):
        hh, rr = h.to(dev).requires_grad_(True), r.to(dev).requires_grad_(True)
        for symmetric in (True, False):
            out = torch.ops.zoo.cfconv_tab(
                hh, rr, idx[0].to(dev), idx[1].to(dev), table.to(dev), cutoff / intervals, cutoff, symmetric
            )
            gh, gr = torch.autograd.grad((out * weight.to(dev)).sum(), (hh, rr))
            res.append([t.detach().cpu() for t in (out, gh, gr)])
    worst = max(
        (a - b).abs().max().item()
        for cpu, gpu in zip(res[:2], res[2:], strict=True)
        for a, b in zip(cpu, gpu, strict=True)
    )
    assert worst < 1e-10, worst
    print(f"zoo::cfconv_tab {DEV} vs CPU kernels, float64, value and gradients: max diff {worst:.1e}")
    pos, z, box = water_box(1)
    from ase import Atoms

    torch.manual_seed(0)
    config = default_config("schnet", [1, 8], ["energy", "forces"])
    model = build_model(config)
    forces = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, table_n, dev in (("net", 0, "cpu"), ("net_dev", 0, DEV), ("table", 512, DEV)):
            path = Path(tmp) / f"{name}.pt"
            export_model(model, config, path, dtype="float64", filter_table=table_n)
            atoms = Atoms(numbers=z, positions=pos, cell=box, pbc=True)
            atoms.calc = ZooCalculator(str(path), device=dev)
            forces[name] = atoms.get_forces()
    dn = np.abs(forces["net_dev"] - forces["net"]).max()  # both by explicit forces (zoo.explicit_forces)
    assert dn < 1e-9 * max(1.0, np.abs(forces["net"]).max()), dn
    print(f"network artifact on {DEV} vs on CPU, 192-atom water, float64: max |dF| = {dn:.1e} eV/Å")
    df = np.abs(forces["table"] - forces["net"]).max()
    assert df < 1e-5 * np.abs(forces["net"]).max(), df
    print(
        f"tabulated artifact (512 intervals) on {DEV} vs network on CPU, 192-atom water, float64: "
        f"max |dF| = {df:.1e} eV/Å"
    )


def check_cuda_graphs() -> None:
    """ZooCalculator with CUDA graphs (cuda_graphs=True) against the same artifact without, along 30
    random-walk steps of the water box (0.03 Å per atom and step: the neighbour list is rebuilt on the
    way); float64 and float32."""
    from ase import Atoms

    from zoo.ase import ZooCalculator
    from zoo.export import export_model

    pos, z, box = water_box(1)
    steps = np.random.default_rng(0).normal(scale=0.03, size=(30, *pos.shape))
    torch.manual_seed(0)
    config = default_config("schnet", [1, 8], ["energy", "forces"])
    model = build_model(config)
    with tempfile.TemporaryDirectory() as tmp:
        for dtype, tol in (("float64", 1e-9), ("float32", 2e-4)):
            path = Path(tmp) / f"{dtype}.pt"
            export_model(model, config, path, dtype=dtype)
            runs = {}
            for graphs in (True, False):
                atoms = Atoms(numbers=z, positions=pos, cell=box, pbc=True)
                atoms.calc = calc = ZooCalculator(str(path), device=DEV, cuda_graphs=graphs)
                forces = []
                for step in steps:
                    atoms.positions += step
                    forces.append(atoms.get_forces().copy())
                runs[graphs] = (np.array(forces), calc.n_neighbor_builds, calc.graphs)
            scale = max(1.0, np.abs(runs[False][0]).max())
            df = np.abs(runs[True][0] - runs[False][0]).max()
            runner = runs[True][2]
            assert runner is not None and df < tol * scale, (dtype, df)
            print(
                f"CUDA graphs vs none, 192-atom water, 30 displaced frames, {dtype}: "
                f"max |dF| = {df:.1e} eV/Å (largest |F| {scale:.2g}); "
                f"{runs[True][1]} neighbour-list builds, {runner.captures} captures"
            )


def calculator_timings() -> None:
    try:
        from ase import Atoms, units
        from ase.md.verlet import VelocityVerlet

        from zoo.ase import ZooCalculator
        from zoo.export import export_model
    except ImportError as exc:
        print(f"calculator timings skipped: {exc}")
        return
    d = np.load(MALONALDEHYDE)
    wpos, wz, wbox = water_box(2)
    systems = {
        "malonaldehyde (9 atoms)": Atoms(numbers=d["z"], positions=d["R"][0]),
        "water box (1,536 atoms)": Atoms(numbers=wz, positions=wpos, cell=wbox, pbc=True),
    }
    print(f"{'system':<26}{'model':<24}{'ms/call':>10}{'ms/MD step':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        cases = [("schnet", 0, True), ("schnet", 0, False), ("schnet", 512, True), ("schnet", 512, False)]
        for kind, table, graphs in [*cases, ("wacsf", 0, False)]:
            torch.manual_seed(0)
            config = default_config(kind, [1, 6, 8], ["energy", "forces"])
            model = build_model(config)
            label = kind + (f", table {table}" if table else "") + (", graphs" if graphs else "")
            path = Path(tmp) / f"{kind}_{table}.pt"
            export_model(model, config, path, filter_table=table)
            for name, atoms in systems.items():
                atoms = atoms.copy()
                atoms.calc = ZooCalculator(str(path), device=DEV, cuda_graphs=graphs and DEV != "cpu")
                for _ in range(3):  # warm-up: TorchScript profiling runs, the graph's capture
                    atoms.positions += 1e-4
                    atoms.get_forces()
                n = 50
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
                print(f"{name:<26}{label:<24}{call:>10.2f}{step:>12.2f}", flush=True)


def main() -> None:
    global DEV
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda (the point), or cpu to dry-run the script")
    ap.add_argument("--skip-timings", action="store_true")
    DEV = ap.parse_args().device
    if DEV.startswith("cuda"):
        assert torch.cuda.is_available(), "no CUDA device"
        print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}", flush=True)
    check_neighbors()
    check_models()
    check_filter_tables()
    if DEV != "cpu":
        check_cuda_graphs()
    if not ap.parse_args().skip_timings:
        calculator_timings()


if __name__ == "__main__":
    main()

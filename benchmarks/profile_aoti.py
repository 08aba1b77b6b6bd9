"""AOTInductor artifacts (.pt2): export variants of one SchNet, time them interleaved, profile the kernels.

    python benchmarks/profile_aoti.py [--variants default,no-split,threads2] [--rounds 4] [--profile]
                                      [--isa avx512] [--system water|molecule]

Model: SchNet F=128, 6 interactions, 20 Gaussians, cutoff 5 Å, float32 (random weights, as in
compare_schnetpack.py). System: the 1,536-atom periodic water box (2x2x2 DeePMD frame) or malonaldehyde;
pairs from zoo.neighbors (mirror-ordered). One torch thread. Each variant is exported once (20-45 s),
then every round calls each variant (and the TorchScript artifact) once; the table gives min and
median CPU ms per call. Variants:

* ``default``    what ``zoo export -o m.pt2`` writes
* ``no-split``   without ``split_baddbmm`` (ATen's baddbmm copies its broadcast bias first)
* ``threads2``   kernels compiled for 2 threads (OpenMP, atomic scatter-adds), run on 1
* ``freezing``   inductor ``freezing=True`` (weight pre-packing)
* ``autotune``   inductor ``max_autotune`` with the CPP GEMM template (fused GEMM epilogues); without
                 the baddbmm split, which its template rejects (an inductor assertion)

``--profile`` also exports the default variant with inductor's kernel profiling and prints the
``torch.profiler`` table of one call (fused kernels by name, ATen matrix products).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

VARIANTS = {
    "default": {},
    "threads2": {"cpp.threads": 2},
    "freezing": {"freezing": True},
    "autotune": {"max_autotune": True, "max_autotune_gemm_backends": "CPP,ATEN"},
    "profiled": {"cpp.enable_kernel_profile": True},
}


@contextlib.contextmanager
def patched(configs: dict, split: bool):  # type: ignore[no-untyped-def]
    """Extra inductor configs / no baddbmm split for exports inside the block."""
    import zoo.export.aoti as aoti

    compile_orig, split_orig = torch._inductor.aoti_compile_and_package, aoti.split_baddbmm

    def compile_with(program, package_path=None, inductor_configs=None):  # type: ignore[no-untyped-def]
        return compile_orig(
            program, package_path=package_path, inductor_configs={**(inductor_configs or {}), **configs}
        )

    torch._inductor.aoti_compile_and_package = compile_with
    if not split:
        aoti.split_baddbmm = lambda module: 0
    try:
        yield
    finally:
        torch._inductor.aoti_compile_and_package, aoti.split_baddbmm = compile_orig, split_orig


def system(name: str):  # type: ignore[no-untyped-def]
    from ase import Atoms
    from common import MALONALDEHYDE, water_box

    if name == "water":
        return water_box()
    d = np.load(MALONALDEHYDE)
    return Atoms(numbers=d["z"], positions=d["R"][0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", default="default,no-split,threads2")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--isa", default="avx512", choices=("avx2", "avx512", "native"))
    ap.add_argument("--system", default="water", choices=("water", "molecule"))
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()

    import compare_schnetpack as cs

    from zoo.export import export_model, load_artifact
    from zoo.neighbors import neighbor_list

    torch.set_num_threads(1)
    model, cfg = cs.zoo_model()
    atoms = system(args.system)
    pos = torch.tensor(atoms.positions)
    ei, sh = neighbor_list(pos, cs.CUTOFF, torch.tensor(atoms.cell.array), torch.tensor(atoms.pbc))
    inputs = (atoms.positions.astype(np.float32), atoms.numbers, ei.numpy(), sh.numpy().astype(np.float32))
    print(
        f"{args.system}: {len(atoms)} atoms, {ei.shape[1]} pairs; SchNet F={cs.F}, {cs.N_INTER} blocks; "
        f"isa {args.isa}; torch {torch.__version__}; 1 thread",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="zoo_aoti_") as tmpdir:
        tmp = Path(tmpdir)
        arts = {"TorchScript .pt": tmp / "m.pt"}
        export_model(model, cfg, arts["TorchScript .pt"])
        names = [v.strip() for v in args.variants.split(",") if v.strip()]
        for name in names + (["profiled"] if args.profile else []):
            configs = VARIANTS["default" if name == "no-split" else name]
            t = time.perf_counter()
            with patched(configs, split=name not in ("no-split", "autotune")):
                export_model(model, cfg, tmp / f"{name}.pt2", fmt="aoti", isa=args.isa)
            print(f"  exported {name} in {time.perf_counter() - t:.0f} s", flush=True)
            if name != "profiled":
                arts[name] = tmp / f"{name}.pt2"
        loaded = {name: load_artifact(path) for name, path in arts.items()}
        for art in loaded.values():
            art.compute(*inputs)
        cpu: dict[str, list[float]] = {name: [] for name in loaded}
        for _ in range(args.rounds):
            for name, art in loaded.items():
                t = time.process_time()
                art.compute(*inputs)
                cpu[name].append(1e3 * (time.process_time() - t))
        print("\n| artifact | min CPU ms | median CPU ms | vs default |\n|---|---:|---:|---:|")
        ref = statistics.median(cpu["default"]) if "default" in cpu else float("nan")
        for name, v in cpu.items():
            print(
                f"| {name} | {min(v):.1f} | {statistics.median(v):.1f} | {statistics.median(v) / ref:.2f} |"
            )
        if args.profile:
            art = load_artifact(tmp / "profiled.pt2")
            art.compute(*inputs)
            with torch.profiler.profile() as prof:
                art.compute(*inputs)
            print(
                prof.key_averages().table(
                    sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=70
                )
            )


if __name__ == "__main__":
    main()

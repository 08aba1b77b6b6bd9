"""Why a 9-atom SchNet's matrix products cost ~46 us each on a GPU: the profiler's kernels and shapes for
one artifact call, then small float32 products timed by shape, M padding, TF32 and BLAS backend.

    python benchmarks/gpu_mm_probe.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MALONALDEHYDE  # noqa: E402


def per_call_us(fn, n: int = 200) -> float:
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(n):
            fn()
    g.replay()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    g.replay()
    e.record()
    torch.cuda.synchronize()
    return s.elapsed_time(e) * 1000 / n


def shapes() -> None:
    dev = "cuda"
    print("| product | backend | TF32 | us per product (in a graph) |\n|---|---|---|---:|")
    cases = []
    for m in (9, 16, 32, 35, 64, 128, 1536):
        cases.append((f"({m},128) x (128,128)^T", m, 128, 128))
    cases += [
        ("(9,128) x (128,64)^T", 9, 128, 64),
        ("(9,64) x (64,1)^T", 9, 64, 1),
        ("(9,1) x (1,64)", 9, 1, 64),
    ]
    for backend in ("cublas", "cublaslt"):
        try:
            torch.backends.cuda.preferred_blas_library(backend)
        except Exception as exc:  # noqa: BLE001
            print(f"backend {backend}: {exc}")
            continue
        for tf32 in (False, True):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            for label, m, k, n in cases:
                a = torch.randn(m, k, device=dev)
                w = torch.randn(n, k, device=dev)
                b = torch.randn(n, device=dev)
                us = per_call_us(lambda a=a, w=w: torch.mm(a, w.t()))
                us2 = per_call_us(lambda a=a, w=w, b=b: torch.addmm(b, a, w.t()))
                print(f"| {label} | {backend} | {tf32} | mm {us:.1f} / addmm {us2:.1f} |", flush=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cuda.preferred_blas_library("cublas")
    for m in (9, 1536):  # bmm of the packed filter networks: (6, pairs, 20) x (6, 20, 128)
        p = 35 if m == 9 else 40000
        x = torch.randn(6, p, 20, device=dev)
        w = torch.randn(6, 20, 128, device=dev)
        us = per_call_us(lambda x=x, w=w: torch.bmm(x, w))
        print(f"| bmm (6,{p},20) x (6,20,128) | cublas | False | {us:.1f} |")


def artifact_kernels() -> None:
    from ase import Atoms
    from torch.profiler import ProfilerActivity, profile

    from zoo.ase import ZooCalculator
    from zoo.export import export_model
    from zoo.model import build_model, default_config

    d = np.load(MALONALDEHYDE)
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        config = default_config("schnet", [1, 6, 8], ["energy", "forces"])
        path = Path(tmp) / "s.pt"
        export_model(build_model(config), config, path)
        atoms = Atoms(numbers=d["z"], positions=d["R"][0])
        atoms.calc = ZooCalculator(str(path), device="cuda")
        for _ in range(5):
            atoms.positions += 1e-4
            atoms.get_forces()
        with profile(activities=[ProfilerActivity.CUDA], record_shapes=True) as prof:
            atoms.positions += 1e-4
            atoms.get_forces()
            torch.cuda.synchronize()
    kernels = {}
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            k = kernels.setdefault(e.name[:110], [0, 0.0])
            k[0] += 1
            k[1] += e.device_time_total if hasattr(e, "device_time_total") else e.cuda_time_total
    print("\nmalonaldehyde artifact call: GPU kernels by total time (us)")
    for name, (n, t) in sorted(kernels.items(), key=lambda kv: -kv[1][1])[:15]:
        print(f"{t:9.1f} us  {n:4d} x  {name}")


if __name__ == "__main__":
    print(torch.cuda.get_device_name(), torch.__version__, flush=True)
    artifact_kernels()
    shapes()

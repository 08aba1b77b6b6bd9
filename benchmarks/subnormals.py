"""Why zoo floors its Gaussians at exp(-50): float32 subnormal numbers on the CPU.

    python benchmarks/subnormals.py [--pairs 39600] [--threads 1]

SchNet's radial basis exp(-γ(r-μ)²) for 20 centres over 0-4 Å (the LAMMPS example model) evaluated on
uniformly drawn distances produces values below 1.2e-38 (float32 subnormals) for far centres. Prints
ms per call of exp and of the first filter product (rbf @ W, 20 -> 64) for: the real exponents, the same
exponents floored at -50 (zoo.nn.blocks.gaussian), random data, and the real ones with
torch.set_flush_denormal(True).
"""

from __future__ import annotations

import argparse
import time

import torch


def ms(fn, n: int = 20) -> float:  # type: ignore[no-untyped-def]
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return 1000 * (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=39600)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    d = torch.rand(args.pairs, 1) * 4.0
    mu = torch.linspace(0, 4, 20)
    arg = -0.5 / float(mu[1] - mu[0]) ** 2 * (d - mu) ** 2
    w = torch.randn(20, 64)
    cases = {
        "real exponents": arg,
        "floored at -50": arg.clamp(min=-50.0),
        "random data": torch.randn_like(arg) - 1.0,
    }
    print(f"{args.pairs} pairs x 20 Gaussians, float32, {torch.get_num_threads()} thread(s)")
    print(f"{'case':<32}{'subnormal %':>12}{'exp ms':>10}{'rbf @ W ms':>12}")
    for name, a in cases.items():
        r = torch.exp(a)
        sub = float(((r > 0) & (r < torch.finfo(torch.float32).tiny)).float().mean()) * 100
        print(f"{name:<32}{sub:>12.2f}{ms(lambda a=a: torch.exp(a)):>10.2f}{ms(lambda r=r: r @ w):>12.2f}")
    torch.set_flush_denormal(True)
    r = torch.exp(arg)
    exp_ms, mm_ms = ms(lambda: torch.exp(arg)), ms(lambda: r @ w)
    print(f"{'real, flush_denormal(True)':<32}{'':>12}{exp_ms:>10.2f}{mm_ms:>12.2f}")


if __name__ == "__main__":
    main()

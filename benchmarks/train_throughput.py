"""Training throughput (molecules/s) of SchNet, ACSF and wACSF on the malonaldehyde data, energy+forces.

    python benchmarks/train_throughput.py [--device cpu|cuda] [--steps 10] [--batch-size 100]

Prints one row per model: optimiser steps/s, molecules/s, data-loading molecules/s (the loader alone,
which must be far faster than training), and peak memory. Settings follow the paper: SchNet F=128,
6 interactions, 20 Gaussians, cutoff 5 Å; ACSF/wACSF with 22 radial and 5 angular functions.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import torch

from zoo.data import sample_path
from zoo.data.dataset import AtomsDataset
from zoo.data.loader import make_loader
from zoo.model import build_model, default_config
from zoo.train.loss import loss_fn, property_weights
from zoo.train.step import predict, to_device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def loader_rate(ds: AtomsDataset, batch_size: int) -> float:
    loader = make_loader(ds, None, batch_size, shuffle=True)
    t = time.perf_counter()
    n = sum(int(b["n_atoms"].shape[0]) for b in loader)
    return n / (time.perf_counter() - t)


def train_rate(
    kind: str, ds: AtomsDataset, batch_size: int, steps: int, device: torch.device
) -> tuple[float, float]:
    torch.manual_seed(0)
    model = build_model(default_config(kind, ds.elements, ["energy", "forces"])).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    weights = property_weights(["energy", "forces"], model.energy_key, 0.01)
    loader = make_loader(ds, None, batch_size, shuffle=True)
    batches = [to_device(b, device, torch.float32) for b, _ in zip(loader, range(steps + 2), strict=False)]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step(batch: dict[str, torch.Tensor]) -> None:
        out = predict(model, batch, ["energy", "forces"], create_graph=True)
        loss = loss_fn(out, batch, weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for b in batches[:2]:  # warm-up
        step(b)
    _sync(device)
    t = time.perf_counter()
    done = 0
    while done < steps:
        step(batches[2 + done % (len(batches) - 2)])
        done += 1
    _sync(device)
    dt = time.perf_counter() - t
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return steps * batch_size / dt, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(sample_path("malonaldehyde")))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--models", default="schnet,acsf,wacsf")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    ds = AtomsDataset(args.data)
    print(
        f"data: {Path(args.data).name} ({len(ds)} structures), device: {device}, "
        f"threads: {torch.get_num_threads()}, batch {args.batch_size}, energy+forces"
    )
    print(f"data loader alone: {loader_rate(ds, args.batch_size):,.0f} molecules/s")
    print(f"{'model':<8}{'molecules/s':>14}{'ms/step':>10}{'peak MiB':>10}")
    for kind in args.models.split(","):
        rate, peak = train_rate(kind, ds, args.batch_size, args.steps, device)
        print(f"{kind:<8}{rate:>14.1f}{1000 * args.batch_size / rate:>10.1f}{peak:>10.0f}")


if __name__ == "__main__":
    main()

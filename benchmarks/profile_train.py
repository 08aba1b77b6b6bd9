"""torch.profiler over zoo's hot paths: a SchNet training step and the ASE calculator on a water box.

    python benchmarks/profile_train.py [--what train|calc|both] [--threads 1] [--steps 5] [--rows 25]

train: SchNet F=128, 6 interactions, 20 Gaussians, cutoff 5 Å, batch 100 malonaldehyde, energy+forces,
zoo.train.step.predict + loss + Adam (as benchmarks/train_throughput.py). calc: zoo.ase.ZooCalculator
on a TorchScript artifact of the same model, 1,536-atom periodic water box. Prints the operators that
dominate (self CPU time), and the wall time per step/call with and without the profiler.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from zoo.data import sample_path
from zoo.data.dataset import AtomsDataset
from zoo.data.loader import make_loader
from zoo.model import build_model, default_config
from zoo.train.loss import loss_fn, property_weights
from zoo.train.step import predict, to_device


def profile_train(steps: int, rows: int, shapes: bool = False) -> None:
    ds = AtomsDataset(sample_path("malonaldehyde"))
    torch.manual_seed(0)
    model = build_model(default_config("schnet", ds.elements, ["energy", "forces"]))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    weights = property_weights(["energy", "forces"], model.energy_key, 0.01)
    loader = make_loader(ds, None, 100, shuffle=True)
    batches = [
        to_device(b, torch.device("cpu"), torch.float32)
        for b, _ in zip(loader, range(steps + 2), strict=False)
    ]

    def step(b: dict[str, torch.Tensor]) -> None:
        with record_function("predict"):
            out = predict(model, b, ["energy", "forces"], create_graph=True)
        loss = loss_fn(out, b, weights)
        opt.zero_grad(set_to_none=True)
        with record_function("backward"):
            loss.backward()
        with record_function("adam"):
            opt.step()

    for b in batches[:2]:
        step(b)
    t = time.perf_counter()
    for b in batches[2:]:
        step(b)
    print(f"train step without profiler: {1000 * (time.perf_counter() - t) / steps:.1f} ms")
    with profile(activities=[ProfilerActivity.CPU], record_shapes=shapes) as prof:
        for b in batches[2:]:
            step(b)
    print(prof.key_averages(group_by_input_shape=shapes).table(sort_by="self_cpu_time_total", row_limit=rows))


def profile_calc(steps: int, rows: int, shapes: bool = False) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import water_box
    from profile_ab import calculator_call

    torch.manual_seed(0)
    cfg = default_config("schnet", [1, 6, 8], ["energy", "forces"])
    call = calculator_call(build_model(cfg), cfg, water_box(2))
    for _ in range(3):
        call()
    t = time.perf_counter()
    for _ in range(steps):
        call()
    ms = 1000 * (time.perf_counter() - t) / steps
    print(f"calculator call (1,536 atoms) without profiler: {ms:.1f} ms")
    with profile(activities=[ProfilerActivity.CPU], record_shapes=shapes) as prof:
        for _ in range(steps):
            call()
    print(prof.key_averages(group_by_input_shape=shapes).table(sort_by="self_cpu_time_total", row_limit=rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--what", default="both", choices=["train", "calc", "both"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--rows", type=int, default=25)
    ap.add_argument("--shapes", action="store_true", help="group operators by input shapes")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    if args.what in ("train", "both"):
        profile_train(args.steps, args.rows, args.shapes)
    if args.what in ("calc", "both"):
        profile_calc(args.steps, args.rows, args.shapes)


if __name__ == "__main__":
    main()

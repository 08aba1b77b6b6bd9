"""`zoo train` and `zoo eval`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from zoo.errors import ZooError

_TRAIN_OPTIONS: list[tuple[str, type, str]] = [
    ("data", str, "training data: a zoo HDF5 dataset (see `zoo data import`) or 'sample:malonaldehyde'"),
    ("model", str, "schnet, acsf or wacsf"),
    ("properties", str, "comma-separated properties to fit, e.g. energy,forces"),
    ("n_train", int, "training structures"),
    ("n_val", int, "validation structures"),
    ("epochs", int, "maximum number of epochs"),
    ("batch_size", int, "structures per batch"),
    ("output", str, "output folder (best.ckpt, last.ckpt, log.csv, split.npz, tensorboard/)"),
    ("cutoff", float, "cutoff radius in Å"),
    ("n_atom_basis", int, "SchNet feature size F"),
    ("n_interactions", int, "SchNet interaction blocks"),
    ("n_rbf", int, "SchNet Gaussians"),
    ("n_radial", int, "ACSF radial functions"),
    ("n_angular", int, "ACSF angular functions"),
    ("lr", float, "initial learning rate"),
    ("lr_decay", float, "learning-rate factor on plateau"),
    ("lr_patience", int, "epochs without improvement before the learning rate decays"),
    ("lr_min", float, "smallest learning rate"),
    ("early_stopping", int, "epochs without improvement before training stops"),
    ("rho", float, "energy weight of the loss (forces get 1 - rho)"),
    (
        "atomrefs",
        str,
        "per-element references of summed properties: auto (fitted on the training split "
        "when compositions differ), fit or none",
    ),
    ("seed", int, "random seed (split, initialisation, shuffling)"),
    ("device", str, "auto, cpu or cuda"),
    ("num_workers", int, "data-loader worker processes"),
    ("threads", int, "torch CPU threads (0: torch's default; 1 is fastest on a busy shared machine)"),
    ("split_file", str, "reuse this split file"),
    ("max_time", float, "stop after the epoch that passes this many seconds"),
]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a SchNet, ACSF or wACSF model")
    p.add_argument("--config", help="YAML file with the same keys as the options")
    for name, typ, help_ in _TRAIN_OPTIONS:
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None, help=help_)
    p.add_argument("--float64", action="store_true", default=None, help="train in double precision")
    p.add_argument(
        "--compile",
        action="store_true",
        default=None,
        help="torch.compile the model (energy/property training without forces; ~2x per step on CPU)",
    )
    p.add_argument(
        "--tf32", action="store_true", default=None, help="CUDA: TF32 matrix products (faster, less precise)"
    )
    p.add_argument("--resume", action="store_true", default=None, help="continue from OUTPUT/last.ckpt")
    p.add_argument(
        "--release-memory",
        dest="reuse_memory",
        action="store_false",
        default=None,
        help="CPU: leave the C library's allocator alone (default: keep freed memory for the next step, "
        "zoo.memory)",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None)
    p.set_defaults(func=_train)

    e = sub.add_parser("eval", help="MAE/RMSE of a checkpoint on a split")
    e.add_argument("checkpoint")
    e.add_argument("--data", required=True)
    e.add_argument("--split", default="test", help="train, val, test or all")
    e.add_argument("--batch-size", type=int, default=100)
    e.add_argument("--device", default="auto")
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")
    e.set_defaults(func=_eval)


def resolve_data(path: str) -> str:
    if path.startswith("sample:"):
        from zoo.data import sample_path

        return str(sample_path(path.split(":", 1)[1]))
    return path


def _train(args: argparse.Namespace) -> int:
    from zoo.train.config import TrainConfig
    from zoo.train.trainer import Trainer

    overrides: dict[str, Any] = {
        name: getattr(args, name) for name, _, _ in _TRAIN_OPTIONS if getattr(args, name) is not None
    }
    for flag in ("float64", "compile", "tf32", "resume", "progress"):
        if getattr(args, flag) is not None:
            overrides[flag] = getattr(args, flag)
    if args.config:
        cfg = TrainConfig.from_yaml(args.config, overrides)
    else:
        cfg = TrainConfig.from_dict(overrides)
    cfg.data = resolve_data(cfg.data)
    trainer = Trainer(cfg)
    summary = trainer.fit()
    if trainer.is_main:
        print(
            f"trained {summary['epochs']} epochs; best validation loss {summary['best_val_loss']:.6g}; "
            f"checkpoints in {cfg.output}"
        )
    return 0


def _eval(args: argparse.Namespace) -> int:
    from zoo.train.metrics import format_table
    from zoo.train.trainer import evaluate_checkpoint

    if args.batch_size < 1:
        raise ZooError("batch-size must be at least 1")
    result = evaluate_checkpoint(
        args.checkpoint, resolve_data(args.data), args.split, args.batch_size, args.device
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.split} errors of {args.checkpoint}")
        print(format_table(result))
    return 0

"""The training loop: Adam, learning-rate decay on plateau, early stopping, atomic best/last checkpoints,
exact resume, CSV + TensorBoard logs, progress bar, and DDP under torchrun."""

from __future__ import annotations

import csv
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from zoo.data import keys
from zoo.data.dataset import AtomsDataset
from zoo.data.loader import make_loader, set_epoch
from zoo.data.splits import create_splits, load_splits
from zoo.data.stats import composition, fit_atomrefs, per_atom_stats
from zoo.errors import ZooError
from zoo.heads import Atomwise
from zoo.memory import reuse_freed_memory
from zoo.model import DERIVED_PROPERTIES, VECTOR_PROPERTIES, AtomisticModel, build_model
from zoo.nn import ACSF
from zoo.train.checkpoint import load_model, read_checkpoint, save_checkpoint
from zoo.train.config import TrainConfig
from zoo.train.loss import loss_fn, property_weights
from zoo.train.metrics import Metrics, format_table
from zoo.train.step import predict, to_device

LOG_COLUMNS = ["epoch", "time", "lr", "train_loss", "val_loss"]


class Trainer:
    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.rank, self.world = _init_distributed()
        self.device = _device(cfg.device, self.rank)
        if cfg.reuse_memory and self.device.type == "cpu":
            reuse_freed_memory()  # 1.3-1.4x per step on batches of periodic water (docs/RESULTS.md §3 J)
        self.dtype = torch.float64 if cfg.float64 else torch.float32
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = bool(cfg.tf32)
        self.out = Path(cfg.output)
        self.dataset = AtomsDataset(cfg.data)
        self._check_data()
        self.model_cfg = self._model_config()  # once: every checkpoint stores it
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        self._barrier()
        last = self.out / "last.ckpt"
        if last.exists() and not cfg.resume:
            raise ZooError(
                f"{self.out} already holds a training run; pass --resume to continue it "
                "or choose another --output"
            )
        if cfg.resume and not last.exists():
            raise ZooError(f"--resume given but {last} does not exist")
        split_path = Path(cfg.split_file) if cfg.split_file else self.out / "split.npz"
        self.split = create_splits(len(self.dataset), cfg.n_train, cfg.n_val, seed=cfg.seed, path=split_path)
        self.split_sha256 = self.split.sha256

    # ------------------------------------------------------------------ set-up
    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def _barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def _check_data(self) -> None:
        if len(self.dataset) == 0:
            raise ZooError(f"{self.cfg.data} holds no structures")
        have = set(self.dataset.available_properties)
        for p in self.cfg.properties:
            if p not in have:
                raise ZooError(
                    f"{self.cfg.data} has no property '{p}' (available: {', '.join(sorted(have))})"
                )
        if "stress" in self.cfg.properties and "energy" not in self.cfg.properties:
            raise ZooError("training on stress needs 'energy' among the properties")

    def _model_config(self) -> dict[str, Any]:
        """The configuration of the model for this data (stored in checkpoints)."""
        cfg = self.cfg.model_config(self.dataset.elements)
        # a dipole given as a magnitude per structure (QM9's mu) is fitted by |mu| of the predicted vector
        magnitude = [
            p for p in self.cfg.properties if p in VECTOR_PROPERTIES and self._values_per_structure(p) == 1
        ]
        if magnitude:
            cfg["head"]["dipole_magnitude"] = True
        return cfg

    def _values_per_structure(self, prop: str) -> int:
        return int(np.prod(self.dataset.get_property(prop, np.arange(1)).shape[1:], dtype=np.int64))

    def build(self) -> AtomisticModel:
        torch.manual_seed(self.cfg.seed)
        model = build_model(self.model_cfg)
        train_idx = self.split.train
        comp: np.ndarray | None = None
        for name, head in model.heads.items():
            if isinstance(head, Atomwise):
                if comp is None:
                    comp = composition(self.dataset, train_idx)  # once for all heads and statistics
                refs = self._atomrefs(name, head, train_idx, comp)
                mean, std = per_atom_stats(self.dataset, name, train_idx, atomrefs=refs, comp=comp)
                if name == model.energy_key and "forces" in self.cfg.properties:
                    # with forces, the output scale is set by their RMS (eV/Å x 1 Å): the spread of
                    # per-atom energies across an MD trajectory is far smaller than the forces' scale
                    std = float(np.sqrt(np.mean(self.dataset.get_property("forces", train_idx) ** 2)))
                if refs is not None:
                    head.atomref[:, 0] = torch.as_tensor(refs, dtype=head.atomref.dtype)
                head.mean.fill_(float(mean))
                head.std.fill_(float(std) if std > 0 else 1.0)
        if isinstance(model.representation, ACSF):
            self._standardize_acsf(model.representation, train_idx)
        return model

    def _atomrefs(
        self, name: str, head: Atomwise, train_idx: np.ndarray, comp: np.ndarray
    ) -> np.ndarray | None:
        """Least-squares per-element references of a summed scalar property, or None (see TrainConfig);
        ``comp`` is the training structures' composition matrix."""
        if self.cfg.atomrefs == "none" or head.aggregation != "sum" or head.n_out != 1:
            return None
        one_composition = np.unique(comp, axis=0).shape[0] < 2
        if self.cfg.atomrefs == "auto" and one_composition:
            return None  # one composition (an MD trajectory): the per-atom mean already is the reference
        return fit_atomrefs(self.dataset, name, train_idx, comp=comp)

    def _standardize_acsf(self, rep: ACSF, train_idx: np.ndarray) -> None:
        """Feature mean/std over (up to) 1,000 training structures, computed in float64."""
        from zoo.neighbors import neighbor_list, pair_vectors

        sub = train_idx[: min(len(train_idx), 1000)]
        loader = make_loader(self.dataset, sub, batch_size=100, shuffle=False, dtype=torch.float64)
        rep.double()
        feats = []
        for b in loader:
            ei, sh = neighbor_list(
                b[keys.R], rep.cutoff, b[keys.cell], b[keys.pbc], b[keys.idx_m], b[keys.n_atoms]
            )
            feats.append(rep.raw_features(b[keys.Z], pair_vectors(b[keys.R], ei, sh), ei[0], ei[1]))
        rep.fit_standardization(torch.cat(feats))
        rep.float()

    # ------------------------------------------------------------------ loop
    def fit(self) -> dict[str, Any]:
        cfg = self.cfg
        model = self.build().to(self.device, self.dtype)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=cfg.lr_decay, patience=cfg.lr_patience, min_lr=cfg.lr_min
        )
        state = {"epoch": 0, "best_val": math.inf, "stale": 0}
        if cfg.resume:
            ckpt = read_checkpoint(self.out / "last.ckpt")
            model.load_state_dict(ckpt["state_dict"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            state = dict(ckpt["trainer_state"])
            _set_rng_state(ckpt["rng"])
            logged = _truncate_log(self.out / "log.csv", state["epoch"]) if self.is_main else 0.0
            state.setdefault("elapsed", logged)  # checkpoints before the field: the log's time
        net: nn.Module = model
        if self.world > 1:
            net = nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        if cfg.compile:
            net = torch.compile(net)  # checkpoints keep saving `model`: same parameters, plain names
        weights = property_weights(self.cfg.properties, model.energy_key, cfg.rho)
        train_loader = make_loader(
            self.dataset,
            self.split.train,
            cfg.batch_size,
            shuffle=True,
            seed=cfg.seed,
            num_workers=cfg.num_workers,
            distributed=self.world > 1,
        )
        val_loader = make_loader(
            self.dataset,
            self.split.val,
            cfg.batch_size,
            shuffle=False,
            num_workers=cfg.num_workers,
            distributed=self.world > 1,
        )
        writer = _tensorboard(self.out) if self.is_main else None
        create_graph = any(p in DERIVED_PROPERTIES for p in cfg.properties)
        start, elapsed_before = time.time(), float(state.get("elapsed", 0.0))
        while state["epoch"] < cfg.epochs:
            epoch = state["epoch"] + 1
            _set_epoch(train_loader, epoch, cfg.seed)
            net.train()
            train_loss, n_batches = 0.0, 0
            for batch in _progress(train_loader, cfg.progress and self.is_main, f"epoch {epoch}"):
                batch = to_device(batch, self.device, self.dtype)
                pred = predict(net, batch, self.cfg.properties, create_graph)
                loss = loss_fn(pred, batch, weights)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                train_loss += float(loss.detach())
                n_batches += 1
            train_loss /= max(n_batches, 1)
            val = self.evaluate(net, val_loader, weights)
            val_loss = float(val.pop("_loss"))
            scheduler.step(val_loss)
            state["epoch"] = epoch
            state["elapsed"] = elapsed_before + time.time() - start  # training time over all resumes
            improved = val_loss < state["best_val"]
            if improved:
                state["best_val"], state["stale"] = val_loss, 0
            else:
                state["stale"] += 1
            lr = optimizer.param_groups[0]["lr"]
            if self.is_main:
                self._log(epoch, state["elapsed"], lr, train_loss, val_loss, val, writer)
                payload = self._payload(model, optimizer, scheduler, state)
                if improved:
                    save_checkpoint(self.out / "best.ckpt", {**payload, "val_metrics": val})
                save_checkpoint(self.out / "last.ckpt", payload)
            self._barrier()
            if state["stale"] >= cfg.early_stopping:
                break
            if cfg.max_time is not None and time.time() - start > cfg.max_time:
                break
        if writer is not None:
            writer.close()
        return {"epochs": state["epoch"], "best_val_loss": state["best_val"]}

    def evaluate(self, net: nn.Module, loader: Any, weights: dict[str, float]) -> dict[str, Any]:
        net.eval()
        metrics = Metrics(self.cfg.properties)
        total, count = 0.0, 0
        for batch in loader:
            batch = to_device(batch, self.device, self.dtype)
            pred = predict(net, batch, self.cfg.properties, create_graph=False)
            metrics.update(pred, batch)
            n = int(batch[keys.n_atoms].shape[0])
            total += float(loss_fn(pred, batch, weights).detach()) * n
            count += n
        metrics.reduce(self.world)
        if self.world > 1:
            t = torch.tensor([total, float(count)], dtype=torch.float64)
            torch.distributed.all_reduce(t)
            total, count = float(t[0]), int(t[1])
        result: dict[str, Any] = metrics.result()
        result["_loss"] = total / max(count, 1)
        return result

    def _payload(
        self, model: AtomisticModel, optimizer: Any, scheduler: Any, state: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "config": self.model_cfg,
            "train_config": self.cfg.to_dict(),
            "dtype": "float64" if self.dtype == torch.float64 else "float32",
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "trainer_state": dict(state),
            "rng": _get_rng_state(),
            "provenance": {
                "dataset": str(self.cfg.data),
                "dataset_source": str(self.dataset.attrs.get("source", "")),
                "n_train": int(len(self.split.train)),
                "n_val": int(len(self.split.val)),
                "n_test": int(len(self.split.test)),
                "split_sha256": self.split_sha256,
                "properties": list(self.cfg.properties),
                "units": {p: u for p, u in self.dataset.units.items() if p in self.cfg.properties},
            },
            "epoch": state["epoch"],
            "test_errors": {},
        }

    def _log(
        self,
        epoch: int,
        elapsed: float,
        lr: float,
        train_loss: float,
        val_loss: float,
        val: dict[str, Any],
        writer: Any,
    ) -> None:
        path = self.out / "log.csv"
        cols = LOG_COLUMNS + [f"val_{p}_{m}" for p in self.cfg.properties for m in ("mae", "rmse")]
        row = [epoch, f"{elapsed:.2f}", f"{lr:.3e}", f"{train_loss:.6g}", f"{val_loss:.6g}"]
        row += [f"{val[p][m]:.6g}" for p in self.cfg.properties for m in ("mae", "rmse")]
        new = not path.exists()
        with path.open("a", newline="") as fh:
            w = csv.writer(fh)
            if new:
                w.writerow(cols)
            w.writerow(row)
        if writer is not None:
            writer.add_scalar("loss/train", train_loss, epoch)
            writer.add_scalar("loss/val", val_loss, epoch)
            writer.add_scalar("lr", lr, epoch)
            for p in self.cfg.properties:
                writer.add_scalar(f"val_mae/{p}", val[p]["mae"], epoch)
            writer.flush()


def _truncate_log(path: Path, epoch: int) -> float:
    """On resume, drop log rows past the checkpoint's epoch (written before a crash that lost the
    checkpoint), so the resumed run does not log an epoch twice; return the logged time of `epoch`."""
    if not path.exists():
        return 0.0
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return 0.0
    kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= epoch]
    if len(kept) != len(rows):
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", newline="") as fh:
            csv.writer(fh).writerows(kept)
        os.replace(tmp, path)
    return float(kept[-1][1]) if len(kept) > 1 else 0.0


def evaluate_checkpoint(
    ckpt_path: str | Path, data: str, split: str = "test", batch_size: int = 100, device: str = "auto"
) -> dict[str, Any]:
    """MAE/RMSE of a checkpoint on a split of a dataset (the split file written next to the checkpoint)."""
    model, ckpt = load_model(ckpt_path)
    dev = _device(device, 0)
    dtype = torch.float64 if ckpt.get("dtype") == "float64" else torch.float32
    model = model.to(dev, dtype)
    dataset = AtomsDataset(data)
    split_file = Path(ckpt_path).parent / "split.npz"
    if split == "all":
        indices = np.arange(len(dataset))
    else:
        if not split_file.exists():
            raise ZooError(f"no split file {split_file} next to the checkpoint; use --split all")
        if split not in ("train", "val", "test"):
            raise ZooError(f"unknown split '{split}'; choose train, val, test or all")
        indices = getattr(load_splits(split_file, len(dataset)), split)
    if len(indices) == 0:
        raise ZooError(f"split '{split}' of {split_file} is empty")
    props = [p for p in ckpt["provenance"]["properties"] if p in dataset.available_properties]
    loader = make_loader(dataset, indices, batch_size, shuffle=False)
    metrics = Metrics(props)
    for batch in loader:
        batch = to_device(batch, dev, dtype)
        pred = predict(model, batch, props, create_graph=False)
        metrics.update(pred, batch)
    return metrics.result()


# ---------------------------------------------------------------------- helpers
def _init_distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def _device(name: str, rank: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ZooError("device 'cuda' requested but no CUDA GPU is available")
        local = int(os.environ.get("LOCAL_RANK", rank))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device(name)


def _get_rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _set_epoch(loader: Any, epoch: int, seed: int) -> None:
    """Every epoch's order depends only on (seed, epoch), so a resumed run sees the same batches."""
    set_epoch(loader, epoch)
    base = getattr(loader.sampler, "sampler", None)
    generator = getattr(base, "generator", None)
    if generator is not None:
        generator.manual_seed(seed * 100003 + epoch)


def _progress(it: Any, enabled: bool, desc: str) -> Any:
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, desc=desc, leave=False, dynamic_ncols=True)


def _tensorboard(out: Path) -> Any:
    from tensorboardX import SummaryWriter

    return SummaryWriter(str(out / "tensorboard"))


__all__ = ["Trainer", "evaluate_checkpoint", "format_table"]

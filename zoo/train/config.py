"""Training configuration: the keys of `zoo train` and of its `--config FILE.yaml`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zoo.errors import ZooError


@dataclass
class TrainConfig:
    data: str = ""
    model: str = "schnet"
    properties: list[str] = field(default_factory=lambda: ["energy", "forces"])
    n_train: int = 1000
    n_val: int = 100
    epochs: int = 100
    batch_size: int = 100
    output: str = "run"
    cutoff: float = 5.0
    # SchNet
    n_atom_basis: int = 128
    n_interactions: int = 6
    n_rbf: int = 20
    # ACSF / wACSF
    n_radial: int = 22
    n_angular: int = 5
    zetas: list[int] = field(default_factory=lambda: [1])
    centered: bool = False
    # optimisation (SchNetPack paper, Tables III-IV)
    lr: float = 1e-4
    lr_decay: float = 0.5
    lr_patience: int = 5
    lr_min: float = 1e-6
    early_stopping: int = 20
    rho: float = 0.01  # weight of the energy loss; forces get 1 - rho
    # per-element references of summed properties: "auto" fits them by least squares over the training
    # split when its structures differ in composition (QM9, ANI-1, materials), "fit" always, "none" never
    atomrefs: str = "auto"
    seed: int = 42
    device: str = "auto"
    num_workers: int = 0
    threads: int = 0  # torch intra-op CPU threads; 0 keeps torch's default
    # CPU: keep freed memory in the process (zoo.memory): no page faults for large per-step tensors
    reuse_memory: bool = True
    float64: bool = False
    compile: bool = False  # torch.compile the model (property/energy-only training: no forces, no stress)
    tf32: bool = False  # CUDA: TF32 tensor-core matmuls (faster; ~1e-3 relative rounding in products)
    split_file: str | None = None
    resume: bool = False
    progress: bool = True
    max_time: float | None = None  # seconds; stops cleanly after the epoch that passes it

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except yaml.YAMLError as exc:
            raise ZooError(f"{path} is not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise ZooError(f"{path} must hold a mapping of training options")
        raw = {k.replace("-", "_"): v for k, v in raw.items()}
        raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise ZooError(f"unknown training option(s): {', '.join(unknown)}")
        cfg = cls(**raw)
        if isinstance(cfg.properties, str):
            cfg.properties = [p.strip() for p in cfg.properties.split(",") if p.strip()]
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if not self.data:
            raise ZooError("no training data given (--data FILE)")
        if self.model not in ("schnet", "acsf", "wacsf"):
            raise ZooError(f"unknown model {self.model!r}; choose schnet, acsf or wacsf")
        if self.cutoff <= 0:
            raise ZooError(f"cutoff must be positive, got {self.cutoff}")
        for name in ("n_train", "n_val", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ZooError(f"{name.replace('_', '-')} must be at least 1")
        if self.threads < 0:
            raise ZooError(f"threads must be >= 0, got {self.threads}")
        if self.compile and any(p in ("forces", "stress") for p in self.properties):
            raise ZooError(
                "--compile cannot train on forces or stress: they are gradients, and torch.compile "
                "(torch 2.13) does not differentiate a compiled model twice; drop --compile"
            )
        if self.atomrefs not in ("auto", "fit", "none"):
            raise ZooError(f"atomrefs must be auto, fit or none, not {self.atomrefs!r}")
        if not 0.0 <= self.rho <= 1.0:
            raise ZooError(f"rho must lie in [0, 1], got {self.rho}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def model_config(self, species: list[int]) -> dict[str, Any]:
        from zoo.model import default_config

        cfg = default_config(self.model, species, self.properties, self.cutoff)
        if self.model == "schnet":
            cfg["representation"].update(
                n_atom_basis=self.n_atom_basis, n_interactions=self.n_interactions, n_rbf=self.n_rbf
            )
        else:
            cfg["representation"].update(
                n_radial=self.n_radial,
                n_angular=self.n_angular,
                zetas=list(self.zetas),
                centered=self.centered,
            )
        return cfg

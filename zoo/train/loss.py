"""The paper's loss: rho * MSE(energy) + (1 - rho) * MSE(forces); other properties weighted 1."""

from __future__ import annotations

import torch
from torch import Tensor

ENERGY_FORCE = ("energy", "forces")


def property_weights(properties: list[str], energy_key: str, rho: float) -> dict[str, float]:
    if "forces" in properties:
        weights = {p: 1.0 for p in properties}
        weights[energy_key] = rho
        weights["forces"] = 1.0 - rho
        return weights
    return {p: 1.0 for p in properties}


def loss_fn(pred: dict[str, Tensor], batch: dict[str, Tensor], weights: dict[str, float]) -> Tensor:
    total = torch.zeros((), dtype=next(iter(pred.values())).dtype, device=next(iter(pred.values())).device)
    for name, w in weights.items():
        if w == 0.0:
            continue
        diff = pred[name] - batch[name].to(pred[name].dtype).reshape(pred[name].shape)
        total = total + w * diff.pow(2).mean()
    return total

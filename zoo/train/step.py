"""One model evaluation on a batch: neighbour list, forward, derived properties (forces, stress)."""

from __future__ import annotations

import torch
from torch import Tensor

from zoo.data import keys
from zoo.model import AtomisticModel
from zoo.neighbors import neighbor_list


def to_device(batch: dict[str, Tensor], device: torch.device, dtype: torch.dtype) -> dict[str, Tensor]:
    out = {}
    for k, v in batch.items():
        v = v.to(device, non_blocking=True)
        if v.is_floating_point():
            v = v.to(dtype)
        out[k] = v
    return out


def predict(
    model: AtomisticModel, batch: dict[str, Tensor], properties: list[str], create_graph: bool
) -> dict[str, Tensor]:
    """Predictions for ``properties`` (forces and stress derived from the energy by autograd)."""
    core = model.module if hasattr(model, "module") else model
    with torch.no_grad():
        edge_index, shifts = neighbor_list(
            batch[keys.R],
            core.cutoff,
            batch[keys.cell],
            batch[keys.pbc],
            batch[keys.idx_m],
            batch[keys.n_atoms],
        )
    n_struct = int(batch[keys.n_atoms].shape[0])
    weight = torch.ones_like(batch[keys.R][:, 0])
    want_stress = "stress" in properties
    out = model(
        batch[keys.Z],
        batch[keys.R],
        edge_index,
        shifts,
        batch[keys.idx_m],
        n_struct,
        weight,
        "forces" in properties,
        want_stress,
        create_graph,
        True,  # zoo.neighbors lists are mirror-ordered
    )
    if want_stress:
        volume = torch.linalg.det(batch[keys.cell]).abs().clamp(min=1e-12)
        out["stress"] = -out["virial"] / volume[:, None, None]
    return out

"""Prediction heads: map atom-wise features to per-atom contributions and per-structure properties.

Every head returns ``(per_structure, per_atom)``. Atoms with ``atom_weight == 0`` (LAMMPS ghosts) take
part in nothing but the sums they are excluded from.
"""

from __future__ import annotations

import ase.data
import torch
from torch import Tensor, nn

from zoo.nn.blocks import MLP, scatter_sum


class ElementalMLP(nn.Module):
    """One MLP per element (Behler-Parrinello style)."""

    def __init__(self, species: list[int], n_in: int, n_out: int, n_hidden: list[int] | None, n_layers: int):
        super().__init__()
        species = sorted({int(z) for z in species})
        elem_index = torch.full((119,), -1, dtype=torch.long)
        elem_index[torch.tensor(species)] = torch.arange(len(species))
        self.register_buffer("elem_index", elem_index)
        self.n_out = n_out
        self.nets = nn.ModuleList([MLP(n_in, n_out, n_hidden, n_layers, "tanh") for _ in species])

    def forward(self, x: Tensor, numbers: Tensor) -> Tensor:
        el = self.elem_index[numbers]
        out = torch.zeros(x.shape[0], self.n_out, dtype=x.dtype, device=x.device)
        for k, net in enumerate(self.nets):
            idx = torch.nonzero(el == k).squeeze(1)
            out = out.index_copy(0, idx, net(x[idx]))
        return out


class Atomwise(nn.Module):
    """Per-atom contributions y_i = std * net(x_i) + mean + atomref[Z_i], summed (or averaged)."""

    def __init__(
        self,
        n_in: int,
        n_out: int = 1,
        aggregation: str = "sum",
        n_hidden: list[int] | None = None,
        n_layers: int = 2,
        species: list[int] | None = None,
    ) -> None:
        super().__init__()
        if aggregation not in ("sum", "mean"):
            raise ValueError(f"aggregation must be 'sum' or 'mean', got {aggregation!r}")
        self.aggregation = aggregation
        self.n_out = n_out
        self.net = (
            ElementalMLP(species, n_in, n_out, n_hidden, n_layers)
            if species is not None
            else _PlainMLP(n_in, n_out, n_hidden, n_layers)
        )
        self.register_buffer("mean", torch.zeros(n_out))
        self.register_buffer("std", torch.ones(n_out))
        self.register_buffer("atomref", torch.zeros(119, n_out))

    def forward(
        self,
        x: Tensor,
        numbers: Tensor,
        positions: Tensor,
        idx_m: Tensor,
        n_structures: int,
        atom_weight: Tensor,
    ) -> tuple[Tensor, Tensor]:
        y = self.net(x, numbers) * self.std + self.mean + self.atomref[numbers]
        total = scatter_sum(y * atom_weight[:, None], idx_m, n_structures)
        if self.aggregation == "mean":
            count = scatter_sum(atom_weight[:, None], idx_m, n_structures)
            total = total / count.clamp(min=1.0)
        if self.n_out == 1:
            return total.squeeze(1), y.squeeze(1)
        return total, y


class _PlainMLP(nn.Module):
    def __init__(self, n_in: int, n_out: int, n_hidden: list[int] | None, n_layers: int) -> None:
        super().__init__()
        self.mlp = MLP(n_in, n_out, n_hidden, n_layers, "ssp")

    def forward(self, x: Tensor, numbers: Tensor) -> Tensor:
        return self.mlp(x)


class DipoleMoment(nn.Module):
    """mu = sum_i q_i (R_i - R_com) with latent charges q_i, corrected to a neutral molecule; with
    ``magnitude`` it returns |mu| (for data that give only the magnitude, as QM9's mu does)."""

    def __init__(
        self,
        n_in: int,
        n_hidden: list[int] | None = None,
        n_layers: int = 2,
        species: list[int] | None = None,
        total_charge: float = 0.0,
        magnitude: bool = False,
    ) -> None:
        super().__init__()
        self.magnitude = magnitude
        self.net = (
            ElementalMLP(species, n_in, 1, n_hidden, n_layers)
            if species is not None
            else _PlainMLP(n_in, 1, n_hidden, n_layers)
        )
        self.total_charge = float(total_charge)
        self.register_buffer("masses", torch.tensor(ase.data.atomic_masses, dtype=torch.float32))

    def forward(
        self,
        x: Tensor,
        numbers: Tensor,
        positions: Tensor,
        idx_m: Tensor,
        n_structures: int,
        atom_weight: Tensor,
    ) -> tuple[Tensor, Tensor]:
        q = self.net(x, numbers).squeeze(1) * atom_weight
        n = scatter_sum(atom_weight[:, None], idx_m, n_structures).squeeze(1).clamp(min=1.0)
        excess = (scatter_sum(q[:, None], idx_m, n_structures).squeeze(1) - self.total_charge) / n
        q = q - excess[idx_m] * atom_weight
        m = self.masses.to(positions.dtype)[numbers] * atom_weight
        mass = scatter_sum(m[:, None], idx_m, n_structures)
        com = scatter_sum(positions * m[:, None], idx_m, n_structures) / mass.clamp(min=1e-12)
        mu = scatter_sum(q[:, None] * (positions - com[idx_m]), idx_m, n_structures)
        if self.magnitude:
            return torch.linalg.vector_norm(mu, dim=1), q
        return mu, q


def ElementalAtomwise(n_in: int, species: list[int], **kwargs: object) -> Atomwise:  # noqa: N802
    """Atomwise with one network per element (Behler-Parrinello)."""
    return Atomwise(n_in, species=species, **kwargs)  # type: ignore[arg-type]


def ElementalDipoleMoment(n_in: int, species: list[int], **kwargs: object) -> DipoleMoment:  # noqa: N802
    """DipoleMoment with one charge network per element."""
    return DipoleMoment(n_in, species=species, **kwargs)  # type: ignore[arg-type]

"""MAE/RMSE per property, in zoo units (eV, Å, e·Å) and in the paper's units."""

from __future__ import annotations

import math

import torch
from ase import units
from torch import Tensor

EV_TO_KCAL = 1.0 / (units.kcal / units.mol)  # 23.0605...
EANG_TO_DEBYE = 1.0 / units.Debye  # 4.8032...

# property -> (zoo unit, paper unit, factor zoo -> paper)
UNITS: dict[str, tuple[str, str, float]] = {
    "energy": ("eV", "kcal/mol", EV_TO_KCAL),
    "forces": ("eV/Å", "kcal/mol/Å", EV_TO_KCAL),
    "stress": ("eV/Å³", "GPa", 1.0 / units.GPa),
    "dipole": ("e·Å", "Debye", EANG_TO_DEBYE),
    "dipole_moment": ("e·Å", "Debye", EANG_TO_DEBYE),
}


def units_of(prop: str) -> tuple[str, str, float]:
    """Energies under other names (U0, H, G ...) are treated like energy."""
    return UNITS.get(prop, UNITS["energy"])


class Metrics:
    def __init__(self, properties: list[str]) -> None:
        self.properties = list(properties)
        self.abs = {p: 0.0 for p in properties}
        self.sq = {p: 0.0 for p in properties}
        self.count = {p: 0 for p in properties}

    def update(self, pred: dict[str, Tensor], batch: dict[str, Tensor]) -> None:
        for p in self.properties:
            diff = (pred[p].detach() - batch[p].to(pred[p].dtype).reshape(pred[p].shape)).double()
            self.abs[p] += float(diff.abs().sum())
            self.sq[p] += float(diff.pow(2).sum())
            self.count[p] += diff.numel()

    def reduce(self, world_size: int) -> None:
        """Sum the accumulators over DDP ranks."""
        if world_size <= 1:
            return
        import torch.distributed as dist

        vec = torch.tensor(
            [v for p in self.properties for v in (self.abs[p], self.sq[p], float(self.count[p]))],
            dtype=torch.float64,
        )
        dist.all_reduce(vec)
        for k, p in enumerate(self.properties):
            self.abs[p], self.sq[p], self.count[p] = (
                float(vec[3 * k]),
                float(vec[3 * k + 1]),
                int(vec[3 * k + 2]),
            )

    def result(self) -> dict[str, dict[str, float | str]]:
        out: dict[str, dict[str, float | str]] = {}
        for p in self.properties:
            n = max(self.count[p], 1)
            unit, paper_unit, factor = units_of(p)
            mae, rmse = self.abs[p] / n, math.sqrt(self.sq[p] / n)
            out[p] = {
                "mae": mae,
                "rmse": rmse,
                "unit": unit,
                "mae_paper": mae * factor,
                "rmse_paper": rmse * factor,
                "paper_unit": paper_unit,
            }
        return out


def format_table(results: dict[str, dict[str, float | str]]) -> str:
    lines = [f"{'property':<14}{'MAE':>12}{'RMSE':>12}  {'unit':<10}{'MAE':>12}{'RMSE':>12}  unit"]
    for p, r in results.items():
        lines.append(
            f"{p:<14}{r['mae']:>12.5f}{r['rmse']:>12.5f}  {r['unit']:<10}"
            f"{r['mae_paper']:>12.5f}{r['rmse_paper']:>12.5f}  {r['paper_unit']}"
        )
    return "\n".join(lines)

"""Small building blocks shared by the representations and heads (TorchScript-compatible)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def scatter_sum(src: Tensor, index: Tensor, dim_size: int) -> Tensor:
    """Sum rows of ``src`` into ``dim_size`` buckets given by ``index``."""
    shape = [dim_size] + list(src.shape[1:])
    out = torch.zeros(shape, dtype=src.dtype, device=src.device)
    return out.index_add(0, index, src)


class ShiftedSoftplus(nn.Module):
    """ssp(x) = ln(0.5 e^x + 0.5) = softplus(x) - ln 2 (SchNet's activation)."""

    def __init__(self) -> None:
        super().__init__()
        self.shift = math.log(2.0)

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.softplus(x) - self.shift


class CosineCutoff(nn.Module):
    """f_c(r) = 0.5 (cos(pi r / rc) + 1) for r < rc, exactly 0 beyond."""

    def __init__(self, cutoff: float) -> None:
        super().__init__()
        self.cutoff = float(cutoff)

    def forward(self, r: Tensor) -> Tensor:
        fc = 0.5 * (torch.cos(r * (math.pi / self.cutoff)) + 1.0)
        return fc * (r < self.cutoff).to(r.dtype)


# Gaussians below exp(-50) = 2e-22 are raised to that constant. Beyond about exp(-87) float32 has only
# subnormal numbers, which make exp and every matrix product that meets them ~10x slower on x86 (measured
# in docs/RESULTS.md); a feature of 1e-22 next to the O(1) Gaussian at the pair's own distance is below
# float64 rounding, so results are unchanged.


def gaussian(exponent: Tensor) -> Tensor:
    """exp(exponent) for exponent <= 0, with the exponent floored at -50 (no subnormals)."""
    return torch.exp(exponent.clamp(min=-50.0))


class GaussianRBF(nn.Module):
    """Gaussians exp(-(r - mu_k)^2 / (2 w^2)) with centres on an equidistant grid from start to cutoff."""

    def __init__(self, n_rbf: int, cutoff: float, start: float = 0.0) -> None:
        super().__init__()
        self._args = (n_rbf, float(cutoff), float(start))
        width = (cutoff - start) / (n_rbf - 1) if n_rbf > 1 else float(cutoff)
        self.coeff = -0.5 / (width * width)
        self._set_centers(torch.float32, None)

    @torch.jit.unused
    def _set_centers(self, dtype: torch.dtype, device: torch.device | None) -> None:
        """Centres computed in float64 and cast once (exact in a float64 model)."""
        n_rbf, cutoff, start = self._args
        centers = torch.linspace(start, cutoff, n_rbf, dtype=torch.float64)
        self.register_buffer("centers", centers.to(dtype=dtype, device=device), persistent=False)

    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def]
        super()._apply(fn, recurse)
        dtype = fn(torch.zeros(1, dtype=self.centers.dtype, device=self.centers.device))
        self._set_centers(dtype.dtype if dtype.is_floating_point() else self.centers.dtype, dtype.device)
        return self

    def forward(self, r: Tensor) -> Tensor:
        return gaussian(self.coeff * (r[:, None] - self.centers) ** 2)


class MLP(nn.Module):
    """A feed-forward network; hidden widths halve from n_in (pyramidal) unless given."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        n_hidden: list[int] | None = None,
        n_layers: int = 2,
        activation: str = "ssp",
    ) -> None:
        super().__init__()
        if n_hidden is None:
            widths = [max(n_out, n_in // (2**k)) for k in range(n_layers)]
            n_hidden = widths[1:]
        sizes = [n_in, *n_hidden, n_out]
        layers: list[nn.Module] = []
        for k in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[k], sizes[k + 1]))
            if k < len(sizes) - 2:
                layers.append(_activation(activation))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def _activation(name: str) -> nn.Module:
    if name == "ssp":
        return ShiftedSoftplus()
    if name == "tanh":
        return nn.Tanh()
    if name == "silu":
        return nn.SiLU()
    raise ValueError(f"unknown activation {name!r}")

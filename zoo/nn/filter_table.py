"""Cubic Hermite tables of SchNet's filter networks (export/SPEC.md "Filter tables").

Each block's filter W(r) = filter_net(rbf(r)) * f_cut(r) is a smooth function of one variable on [0, rc]
(Gaussians of width rc / (n_rbf - 1), a cosine cutoff). On intervals [r_k, r_k + step] it is replaced by
the cubic that matches W and dW/dr at both ends (values and derivatives of the network itself, in
float64), written in t = (r - r_k) / step as c0 + c1 t + c2 t^2 + c3 t^3. The interpolant and its
derivative are continuous, so forces are continuous and MD conserves energy; its error falls as step^4.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor

from zoo.ops import cubic, cubic_slope, locate


def _coefficients(values: Tensor, slopes: Tensor) -> Tensor:
    """(B, n+1, F) node values and step-scaled derivatives -> (B, n, 4, F) coefficients in t."""
    v0, v1, d0, d1 = values[:, :-1], values[:, 1:], slopes[:, :-1], slopes[:, 1:]
    c2 = 3.0 * (v1 - v0) - 2.0 * d0 - d1
    c3 = 2.0 * (v0 - v1) + d0 + d1
    return torch.stack([v0, d0, c2, c3], dim=2)


def evaluate(table: Tensor, step: float, r: Tensor) -> Tensor:
    """The tabulated filters (B, P, F) at distances r (inside [0, n * step])."""
    k, t = locate(r, step, table.shape[1])
    return cubic(table[:, k], t[:, None])  # coefficients (B, P, 4, F)


def hermite_table(rep: torch.nn.Module, intervals: int) -> tuple[Tensor, float, dict[str, float]]:
    """(table (B, intervals, 4, F) float64, step, error) for a zoo.nn.SchNet ``rep``."""
    ref = copy.deepcopy(rep).double().cpu()
    ref.packed = False
    cutoff = float(ref.cutoff)
    step = cutoff / intervals
    nodes = torch.arange(intervals + 1, dtype=torch.float64) * step
    nodes[-1] = cutoff
    with torch.no_grad():
        values, slopes = torch.func.jvp(ref.filters, (nodes,), (torch.full_like(nodes, step),))
        table = _coefficients(values, slopes)
        # the cubic's error peaks near t = 1/2, its slope's (forces) near t = 1/2 -+ 1/(2 sqrt 3)
        mid = nodes[:-1] + 0.5 * step
        err = (evaluate(table, step, mid) - ref.filters(mid)).abs().max()
        slope_err = torch.zeros((), dtype=torch.float64)
        for t in (0.5 - 0.5 / 3**0.5, 0.5, 0.5 + 0.5 / 3**0.5):
            at = nodes[:-1] + t * step
            _, exact_slope = torch.func.jvp(ref.filters, (at,), (torch.ones_like(at),))
            slope = cubic_slope(table, t) / step
            slope_err = torch.maximum(slope_err, (slope - exact_slope).abs().max())
        grid = torch.linspace(0.0, cutoff, 4 * intervals + 1, dtype=torch.float64)
        scale = ref.filters(grid).abs().max()
    return (
        table,
        step,
        {
            "max_abs_error": float(err),
            "max_abs_slope_error": float(slope_err),
            "max_abs_filter": float(scale),
        },
    )

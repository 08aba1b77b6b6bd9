"""Behler-Parrinello atom-centred symmetry functions (ACSF) and weighted ACSF (Gastegger et al. 2018).

Radial  G2_i = sum_j w_j exp(-(r_ij - mu)^2 / (2 s^2)) f_c(r_ij)
Angular G4_i = 2^(1-zeta) sum_{j<k} w_jk (1 + lambda cos theta_ijk)^zeta
               exp(-(r_ij^2 + r_ik^2 [+ r_jk^2]) / (2 s^2)) f_c(r_ij) f_c(r_ik) [f_c(r_jk)]

ACSF resolves the sums by element (j's element for G2, the unordered element pair of j, k for G4);
wACSF uses a single weighted sum with w_j = Z_j and w_jk = Z_j Z_k. Parameters lie on an equidistant
grid from ``start`` to ``cutoff - 0.5`` Å; ``centered=True`` puts every Gaussian at r = 0 with the
grid as widths, ``centered=False`` shifts the centres along the grid with the grid spacing as width.
Features are standardised with mean/std from the training data (:meth:`fit_standardization`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.errors import ModelError
from zoo.nn.blocks import CosineCutoff, gaussian, scatter_sum


def _grid(n: int, start: float, stop: float, centered: bool) -> tuple[Tensor, Tensor]:
    offsets = torch.linspace(start, stop, n, dtype=torch.float64)
    if centered:
        return torch.zeros(n, dtype=torch.float64), offsets  # centres 0, widths on the grid
    width = float(offsets[1] - offsets[0]) if n > 1 else stop - start
    return offsets, torch.full((n,), width, dtype=torch.float64)


class ACSF(nn.Module):
    def __init__(
        self,
        species: list[int],
        cutoff: float = 5.0,
        n_radial: int = 22,
        n_angular: int = 5,
        zetas: tuple[int, ...] = (1,),
        centered: bool = False,
        crossterms: bool = False,
        weighted: bool = False,
        start: float = 1.0,
    ) -> None:
        super().__init__()
        if cutoff <= 0:
            raise ModelError(f"cutoff must be positive, got {cutoff}")
        if not species:
            raise ModelError("ACSF needs the list of elements it will see")
        species = sorted({int(z) for z in species})
        self.cutoff = float(cutoff)
        self.n_interactions = 1
        self.weighted = bool(weighted)
        self.crossterms = bool(crossterms)
        self.hyperparameters = {
            "species": species,
            "cutoff": float(cutoff),
            "n_radial": n_radial,
            "n_angular": n_angular,
            "zetas": list(zetas),
            "centered": centered,
            "crossterms": crossterms,
            "weighted": weighted,
            "start": start,
        }
        n_el = len(species)
        elem_index = torch.full((119,), -1, dtype=torch.long)
        elem_index[torch.tensor(species)] = torch.arange(n_el)
        self.register_buffer("elem_index", elem_index)
        pair_index = torch.zeros(n_el, n_el, dtype=torch.long)
        k = 0
        for a in range(n_el):
            for b in range(a, n_el):
                pair_index[a, b] = k
                pair_index[b, a] = k
                k += 1
        self.register_buffer("pair_index", pair_index)
        self.n_elements = n_el
        self.n_element_pairs = k
        self._grid_args = (n_radial, n_angular, tuple(zetas), centered, start)
        self._set_grids(torch.float32, None)
        self.cutoff_fn = CosineCutoff(cutoff)
        self.n_radial_features = n_radial * (1 if weighted else n_el)
        n_ang_per = n_angular * len(zetas) * 2
        self.n_angular_features = n_ang_per * (1 if weighted else k)
        self.n_out = self.n_radial_features + self.n_angular_features
        self.register_buffer("mean", torch.zeros(self.n_out))
        self.register_buffer("std", torch.ones(self.n_out))

    @torch.jit.unused
    def _set_grids(self, dtype: torch.dtype, device: torch.device | None) -> None:
        """Parameter grids are functions of the hyper-parameters: computed in float64, then cast once,
        so a float64 model holds them exactly (not rounded through float32)."""
        n_radial, n_angular, zetas, centered, start = self._grid_args
        mu_r, s_r = _grid(n_radial, start, self.cutoff - 0.5, centered)
        _, s_a = _grid(n_angular, start, self.cutoff - 0.5, True)
        grids = {
            "mu_r": mu_r,
            "coef_r": -0.5 / s_r**2,
            "coef_a": -0.5 / s_a**2,
            "zetas": torch.tensor([float(z) for z in zetas], dtype=torch.float64),
            "lambdas": torch.tensor([1.0, -1.0], dtype=torch.float64),
        }
        for name, value in grids.items():
            self.register_buffer(name, value.to(dtype=dtype, device=device), persistent=False)

    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def]
        super()._apply(fn, recurse)
        self._set_grids(self.mean.dtype, self.mean.device)
        return self

    def raw_features(self, numbers: Tensor, vectors: Tensor, idx_i: Tensor, idx_j: Tensor) -> Tensor:
        n_atoms = numbers.shape[0]
        order = torch.argsort(idx_i, stable=True)
        vectors, idx_i, idx_j = vectors[order], idx_i[order], idx_j[order]
        r = torch.linalg.vector_norm(vectors, dim=1)
        fc = self.cutoff_fn(r)
        el = self.elem_index[numbers]

        # radial
        g2 = gaussian(self.coef_r * (r[:, None] - self.mu_r) ** 2) * fc[:, None]  # (P, n_radial)
        if self.weighted:
            rad = scatter_sum(g2 * numbers[idx_j].to(g2.dtype)[:, None], idx_i, n_atoms)
        else:
            onehot = nn.functional.one_hot(el[idx_j], self.n_elements).to(g2.dtype)
            rad = scatter_sum((onehot[:, :, None] * g2[:, None, :]).flatten(1), idx_i, n_atoms)

        # angular: all pairs of edges (p, q), p < q, sharing the centre atom
        counts = torch.bincount(idx_i, minlength=n_atoms)
        starts = torch.cumsum(counts, 0) - counts
        per_edge = counts[idx_i]
        p = torch.repeat_interleave(torch.arange(idx_i.shape[0], device=idx_i.device), per_edge)
        first = torch.cumsum(per_edge, 0) - per_edge
        local = torch.arange(p.shape[0], device=p.device) - torch.repeat_interleave(first, per_edge)
        q = starts[idx_i[p]] + local
        keep = p < q
        p, q = p[keep], q[keep]
        rij, rik = r[p], r[q]
        cos = (vectors[p] * vectors[q]).sum(-1) / (rij * rik)
        radial = rij**2 + rik**2
        cut = fc[p] * fc[q]
        if self.crossterms:
            rjk = torch.linalg.vector_norm(vectors[q] - vectors[p], dim=1)
            radial = radial + rjk**2
            cut = cut * self.cutoff_fn(rjk)
        gauss = gaussian(self.coef_a * radial[:, None]) * cut[:, None]  # (T, n_angular)
        base = 1.0 + self.lambdas[None, :] * cos[:, None]  # (T, 2)
        ang = (2.0 ** (1.0 - self.zetas))[None, :, None] * base[:, None, :] ** self.zetas[None, :, None]
        g4 = (gauss[:, :, None, None] * ang[:, None, :, :]).flatten(1)  # (T, n_angular*n_zeta*2)
        centre = idx_i[p]
        if self.weighted:
            w = (numbers[idx_j[p]] * numbers[idx_j[q]]).to(g4.dtype)
            angf = scatter_sum(g4 * w[:, None], centre, n_atoms)
        else:
            pair = self.pair_index[el[idx_j[p]], el[idx_j[q]]]
            onehot = nn.functional.one_hot(pair, self.n_element_pairs).to(g4.dtype)
            angf = scatter_sum((onehot[:, :, None] * g4[:, None, :]).flatten(1), centre, n_atoms)
        return torch.cat([rad, angf], dim=1)

    def forward(
        self, numbers: Tensor, vectors: Tensor, idx_i: Tensor, idx_j: Tensor, mirrored: bool = False
    ) -> Tensor:
        return (self.raw_features(numbers, vectors, idx_i, idx_j) - self.mean) / self.std

    @torch.jit.unused
    def fit_standardization(self, features: Tensor) -> None:
        """Set mean/std from raw features of training atoms (N, n_out); constant features keep std 1."""
        mean = features.mean(0)
        std = features.std(0)
        std = torch.where(std > 1e-8, std, torch.ones_like(std))
        self.mean.copy_(mean)
        self.std.copy_(std)

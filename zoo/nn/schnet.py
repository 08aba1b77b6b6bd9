"""SchNet (Schütt et al. 2017/2018): continuous-filter convolutions over Gaussian-expanded distances."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.errors import ModelError
from zoo.nn.blocks import CosineCutoff, GaussianRBF, ShiftedSoftplus, scatter_sum


class SchNetInteraction(nn.Module):
    """One interaction block: atom-wise in2f, cfconv with a filter-generating network, f2out, residual."""

    def __init__(self, n_atom_basis: int, n_rbf: int, n_filters: int) -> None:
        super().__init__()
        self.in2f = nn.Linear(n_atom_basis, n_filters, bias=False)
        self.filter_net = nn.Sequential(
            nn.Linear(n_rbf, n_filters), ShiftedSoftplus(), nn.Linear(n_filters, n_filters)
        )
        self.f2out = nn.Sequential(
            nn.Linear(n_filters, n_atom_basis), ShiftedSoftplus(), nn.Linear(n_atom_basis, n_atom_basis)
        )

    def forward(
        self, x: Tensor, filter_in: Tensor, rcut_ij: Tensor, idx_i: Tensor, idx_j: Tensor, mirrored: bool
    ) -> Tensor:
        """``filter_in``: the filter network's first layer applied to the radial basis (already done for
        all blocks in one matrix product). With ``mirrored`` pairs, it holds only the first half of the
        pairs: the filter depends on the distance only, so the second half reuses it."""
        w = self.filter_net[2](self.filter_net[1](filter_in)) * rcut_ij[:, None]
        h = self.in2f(x)
        if mirrored:
            half = w.shape[0]
            i1, j1 = idx_i[:half], idx_j[:half]
            conv = scatter_sum(h[j1] * w, i1, x.shape[0]).index_add(0, j1, h[i1] * w)
        else:
            conv = scatter_sum(h[idx_j] * w, idx_i, x.shape[0])
        return x + self.f2out(conv)


class SchNet(nn.Module):
    """SchNet representation. Defaults follow the paper: F=128, 6 interactions, cutoff 5 Å."""

    def __init__(
        self,
        n_atom_basis: int = 128,
        n_interactions: int = 6,
        cutoff: float = 5.0,
        n_rbf: int = 20,
        n_filters: int | None = None,
        max_z: int = 100,
    ) -> None:
        super().__init__()
        if cutoff <= 0:
            raise ModelError(f"cutoff must be positive, got {cutoff}")
        if n_interactions < 1:
            raise ModelError("SchNet needs at least one interaction block")
        n_filters = n_filters or n_atom_basis
        self.cutoff = float(cutoff)
        self.n_interactions = int(n_interactions)
        self.n_out = int(n_atom_basis)
        self.hyperparameters = {
            "n_atom_basis": n_atom_basis,
            "n_interactions": n_interactions,
            "cutoff": float(cutoff),
            "n_rbf": n_rbf,
            "n_filters": n_filters,
            "max_z": max_z,
        }
        self.embedding = nn.Embedding(max_z, n_atom_basis, padding_idx=0)
        self.rbf = GaussianRBF(n_rbf, cutoff)
        self.cutoff_fn = CosineCutoff(cutoff)
        self.interactions = nn.ModuleList(
            [SchNetInteraction(n_atom_basis, n_rbf, n_filters) for _ in range(n_interactions)]
        )

    def forward(
        self, numbers: Tensor, vectors: Tensor, idx_i: Tensor, idx_j: Tensor, mirrored: bool = False
    ) -> Tensor:
        if mirrored:
            vectors = vectors[: vectors.shape[0] // 2]
        r = torch.linalg.vector_norm(vectors, dim=1)
        rcut = self.cutoff_fn(r)
        # first layer of every block's filter network in one matrix product
        weights = [block.filter_net[0].weight for block in self.interactions]
        biases = [block.filter_net[0].bias for block in self.interactions]
        filter_in = nn.functional.linear(self.rbf(r), torch.cat(weights, 0), torch.cat(biases, 0))
        x = self.embedding(numbers)
        n_filters = filter_in.shape[1] // len(weights)
        for k, block in enumerate(self.interactions):
            x = block(x, filter_in[:, k * n_filters : (k + 1) * n_filters], rcut, idx_i, idx_j, mirrored)
        return x

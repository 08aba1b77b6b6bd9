"""SchNet (Schütt et al. 2017/2018): continuous-filter convolutions over Gaussian-expanded distances."""

from __future__ import annotations

import torch
from torch import Tensor, nn

import zoo.ops  # noqa: F401 (defines torch.ops.zoo.cfconv_tab for tabulated filters)
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

    def forward(self, x: Tensor, w: Tensor, idx_i: Tensor, idx_j: Tensor, mirrored: bool) -> Tensor:
        """``w``: this block's filters W_ij = filter_net(rbf(r_ij)) * f_cut(r_ij), computed for all blocks
        at once by :class:`SchNet`. With ``mirrored`` pairs, it holds only the first half of the pairs:
        the filter depends on the distance only, so the second half reuses it."""
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

    __jit_ignored_attributes__ = ["table_error"]
    table_error: dict[str, float]  # tabulate_filters(): intervals, step, deviations (not scripted)

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
        # filled by pack_filters() in exported artifacts; not part of the state dict
        self.packed = False
        for name in ("packed_w1", "packed_b1", "packed_w2", "packed_b2"):
            self.register_buffer(name, torch.zeros(0), persistent=False)
        # filled by tabulate_filters() in exported artifacts that ask for it (export/SPEC.md "Filter tables")
        self.table_step = 0.0
        self.table_error = {}
        self.register_buffer("filter_table", torch.zeros(0), persistent=False)

    def filter_weights(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The filter networks of all blocks stacked: W1 (B, n_rbf, F), b1 (B, F), W2 (B, F, F), b2 (B, F).
        ssp(h) W2 + b2 = softplus(h) W2 + (b2 - ln2 * column sums of W2), so b2 carries the shift and no
        pass over pairs x F is spent on it (equal up to rounding)."""
        w1 = torch.stack([block.filter_net[0].weight.t() for block in self.interactions])
        b1 = torch.stack([block.filter_net[0].bias for block in self.interactions])
        w2 = torch.stack([block.filter_net[2].weight.t() for block in self.interactions])
        shift = self.interactions[0].filter_net[1].shift
        b2 = torch.stack([block.filter_net[2].bias for block in self.interactions]) - shift * w2.sum(1)
        return w1, b1, w2, b2

    @torch.jit.unused
    def pack_filters(self) -> None:
        """Store filter_weights() once (export: frozen weights), instead of stacking them on every call."""
        with torch.no_grad():
            w1, b1, w2, b2 = (t.detach().clone() for t in self.filter_weights())
        self.packed_w1, self.packed_b1, self.packed_w2, self.packed_b2 = w1, b1, w2, b2
        self.packed = True

    @torch.jit.unused
    def tabulate_filters(self, intervals: int) -> dict[str, float]:
        """Replace the filter networks by tables of cubic Hermite polynomials on ``intervals`` equal
        intervals of [0, cutoff] (export only: the weights are frozen). Values and derivatives at the
        nodes are the networks' own, computed in float64. Returns (and keeps as ``table_error``) the
        intervals, the step and the table's largest deviation from the networks: values, slopes per Å,
        and the largest filter value for scale (zoo.nn.filter_table.hermite_table)."""
        from zoo.nn.filter_table import hermite_table

        if intervals < 2:
            raise ModelError(f"a filter table needs at least 2 intervals, got {intervals}")
        table, step, error = hermite_table(self, intervals)
        ref = next(iter(self.parameters()))
        self.filter_table = table.to(dtype=ref.dtype, device=ref.device).contiguous()
        self.table_step = step
        self.table_error = {"intervals": intervals, "step": step, **error}
        return self.table_error

    def filters(self, r: Tensor) -> Tensor:
        """W_ij = filter_net(rbf(r_ij)) * f_cut(r_ij) of all blocks: (blocks, pairs, F)."""
        rcut = self.cutoff_fn(r)
        # the filters of all blocks at once: they depend on the distances only. First layers in one
        # matrix product, one activation, second layers in one batched product (blocks x pairs x F),
        # then one multiplication by the cutoff.
        if self.packed:
            w1, b1, w2, b2 = self.packed_w1, self.packed_b1, self.packed_w2, self.packed_b2
        else:
            w1, b1, w2, b2 = self.filter_weights()
        rbf = self.rbf(r)
        # batched products (blocks x pairs x F), laid out so that nothing is transposed or copied; and
        # batched rather than linear/addmm: TorchScript's symbolic gradient of linear/addmm also forms
        # the weight gradient (pairs x F x n_rbf) even for frozen weights (artifacts)
        first = torch.baddbmm(b1[:, None, :], rbf[None].expand(w1.shape[0], -1, -1), w1)
        filters = torch.baddbmm(b2[:, None, :], nn.functional.softplus(first), w2)
        return filters * rcut[None, :, None]

    def forward(
        self, numbers: Tensor, vectors: Tensor, idx_i: Tensor, idx_j: Tensor, mirrored: bool = False
    ) -> Tensor:
        if mirrored:
            half = vectors.shape[0] // 2
            vectors, idx_i, idx_j = vectors[:half], idx_i[:half], idx_j[:half]
        r = torch.linalg.vector_norm(vectors, dim=1)
        x = self.embedding(numbers)
        if self.table_step > 0.0:  # one fused operator per block, no per-pair filter tensors
            for k, block in enumerate(self.interactions):
                h = block.in2f(x)
                args = (self.filter_table[k], self.table_step, self.cutoff, mirrored)
                if torch.jit.is_scripting():  # the operator's own autograd (C++ runtime, TorchScript)
                    conv = torch.ops.zoo.cfconv_tab(h, r, idx_i, idx_j, *args)
                else:  # eager and torch.func transforms (the traced encodings, zoo/export/graph.py)
                    conv = zoo.ops.CfconvTab.apply(h, r, idx_i, idx_j, *args)
                x = x + block.f2out(conv)
            return x
        # unbind, not filters[k]: the backward of k = 0..5 selections would build six zero-filled
        # (blocks, pairs, F) gradients and add them up; unbind's backward stacks the six once
        per_block = self.filters(r).unbind(0)
        for k, block in enumerate(self.interactions):
            x = block(x, per_block[k], idx_i, idx_j, mirrored)
        return x

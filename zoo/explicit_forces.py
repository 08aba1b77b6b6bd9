"""Forces of exported SchNet artifacts by a backward pass written out, without autograd.

An exported SchNet is frozen, and the one derivative its artifact needs is g_p = dE/dr_p, the energy's
gradient with respect to the pair vectors (zoo.model: forces and virials follow from g). Its layers are
few and fixed: an embedding; filters W_k(r) per block, from filter networks on Gaussians of r times a
cosine cutoff, or read from tables (export/SPEC.md "Filter tables"); per block h = x W_in^T,
c_i = sum_j h_j W_k(r_ij), x += ssp(c W_1^T + b_1) W_2^T + b_2; then the energy head's MLP.
``ExplicitForces`` runs that forward pass keeping the few tensors the backward pass reads (h, the
activations' inputs, the filters), then the backward pass itself: transposed matrix products, the
activation's derivative (autograd's softplus kernel), the convolution's two gradients per block in
reverse order (``zoo::cfconv_tab_backward`` with tables), then, for filter networks, their backward
for all blocks at once and the derivatives of the Gaussians and the cutoff.

Autograd computes the same numbers (tests/test_explicit_forces.py: 1e-12 in float64), but records a graph
node per operation and, under TorchScript, runs symbolic gradient formulas of many small operations; for
a 9-atom molecule that bookkeeping was half the call (docs/RESULTS.md). Training does not use this path
(its weights need gradients).
"""

import math

import torch
from torch import Tensor, nn

import zoo.ops  # noqa: F401 (defines torch.ops.zoo.cfconv_tab and its backward)
from zoo.nn.blocks import CosineCutoff, GaussianRBF, ShiftedSoftplus, scatter_sum


class ExplicitForces(nn.Module):
    """Energy head output and dE/d(pair vectors) of a tabulated SchNet, without autograd.

    Empty (``ready`` False) until :meth:`prepare` copies the weights of a frozen SchNet model (export
    only: after the model's final ``.to(dtype)``; the copies do not follow a later ``.to``)."""

    w_in: list[Tensor]  # per block: in2f, then f2out's two layers
    w1: list[Tensor]
    b1: list[Tensor]
    w2: list[Tensor]
    b2: list[Tensor]
    head_w: list[Tensor]  # the energy head's layers
    head_b: list[Tensor]

    def __init__(self) -> None:
        super().__init__()
        self.ready = False
        self.tabulated = False  # filters from tables (zoo::cfconv_tab), else from the filter networks
        self.step = 0.0
        self.cutoff = 0.0
        self.shift = 0.0
        self.mean_aggregation = False
        self.embedding = torch.zeros(0)
        self.tables = torch.zeros(0)
        # filter networks of all blocks stacked (SchNet.filter_weights); SchNet's own Gaussians and cutoff
        self.filter_w1, self.filter_b1 = torch.zeros(0), torch.zeros(0)
        self.filter_w2, self.filter_b2 = torch.zeros(0), torch.zeros(0)
        self.rbf = GaussianRBF(2, 1.0)
        self.cutoff_fn = CosineCutoff(1.0)
        self.w_in = []
        self.w1 = []
        self.b1 = []
        self.w2 = []
        self.b2 = []
        self.head_w = []
        self.head_b = []
        self.std = torch.zeros(0)
        self.mean = torch.zeros(0)
        self.atomref = torch.zeros(0)

    @torch.jit.unused
    def prepare(self, representation: nn.Module, energy_head: nn.Module) -> bool:
        """Copy the weights if the model is one this pass knows (a SchNet with filter tables or packed
        filter networks, an Atomwise energy head of one output on a plain shifted-softplus MLP); returns
        whether it is."""
        from zoo.heads import Atomwise, _PlainMLP
        from zoo.nn import SchNet

        if not (
            isinstance(representation, SchNet)
            and (representation.table_step > 0.0 or representation.packed)
            and isinstance(energy_head, Atomwise)
            and energy_head.n_out == 1
            and isinstance(energy_head.net, _PlainMLP)
        ):
            return False
        layers = list(energy_head.net.mlp.net)
        linear, activations = layers[0::2], layers[1::2]
        if not (
            all(isinstance(m, nn.Linear) for m in linear)
            and all(isinstance(m, ShiftedSoftplus) for m in activations)
            and len(linear) == len(activations) + 1
        ):
            return False
        blocks = list(representation.interactions)
        for b in blocks:
            if b.in2f.bias is not None or not isinstance(b.f2out[1], ShiftedSoftplus):
                return False

        def copy(t: Tensor) -> Tensor:
            return t.detach().clone()

        self.tabulated = representation.table_step > 0.0
        self.step = float(representation.table_step)
        self.cutoff = float(representation.cutoff)
        self.shift = float(blocks[0].f2out[1].shift)
        self.mean_aggregation = energy_head.aggregation == "mean"
        self.embedding = copy(representation.embedding.weight)
        if self.tabulated:
            self.tables = copy(representation.filter_table)
        else:
            rep = representation
            self.filter_w1, self.filter_b1 = copy(rep.packed_w1), copy(rep.packed_b1)
            self.filter_w2, self.filter_b2 = copy(rep.packed_w2), copy(rep.packed_b2)
            self.rbf, self.cutoff_fn = rep.rbf, rep.cutoff_fn
        self.w_in = [copy(b.in2f.weight) for b in blocks]
        self.w1 = [copy(b.f2out[0].weight) for b in blocks]
        self.b1 = [copy(b.f2out[0].bias) for b in blocks]
        self.w2 = [copy(b.f2out[2].weight) for b in blocks]
        self.b2 = [copy(b.f2out[2].bias) for b in blocks]
        self.head_w = [copy(m.weight) for m in linear]
        self.head_b = [copy(m.bias) for m in linear]
        self.std, self.mean, self.atomref = (
            copy(t) for t in (energy_head.std, energy_head.mean, energy_head.atomref)
        )
        self.ready = True
        return True

    def _ssp(self, a: Tensor) -> Tensor:
        return nn.functional.softplus(a) - self.shift

    def _ssp_backward(self, grad: Tensor, a: Tensor) -> Tensor:
        """grad * ssp'(a): autograd's own kernel (sigmoid(a), exactly 1 above softplus's threshold 20)."""
        return torch.ops.aten.softplus_backward(grad, a, 1.0, 20.0)

    def _filter_backward(
        self, g: Tensor, r: Tensor, fc: Tensor, d: Tensor, rbf: Tensor, first: Tensor, raw: Tensor
    ) -> Tensor:
        """dE/dr from g = dE/dW (blocks, pairs, F) through the filter networks, Gaussians and cutoff."""
        grad_fc = (g * raw).sum(2).sum(0)
        g_sp = torch.bmm(g * fc[None, :, None], self.filter_w2.transpose(1, 2))
        g_rbf = torch.bmm(self._ssp_backward(g_sp, first), self.filter_w1.transpose(1, 2)).sum(0)
        coeff = self.rbf.coeff
        exponent = coeff * d**2  # gaussian(): exp of the exponent floored at -50 (no gradient there)
        g_exponent = g_rbf * rbf * (exponent >= -50.0).to(rbf.dtype)
        slope_fc = -0.5 * (math.pi / self.cutoff) * torch.sin(r * (math.pi / self.cutoff))
        slope_fc = slope_fc * (r < self.cutoff).to(r.dtype)  # CosineCutoff's derivative
        return (g_exponent * d).sum(1) * (2.0 * coeff) + grad_fc * slope_fc

    def forward(
        self,
        numbers: Tensor,
        vectors: Tensor,
        idx_i: Tensor,
        idx_j: Tensor,
        idx_m: Tensor,
        n_structures: int,
        atom_weight: Tensor,
        mirrored: bool,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(features x, energy per structure, energy per atom, dE/dvectors) for the pair vectors of
        zoo.model.AtomisticModel.evaluate; with ``mirrored`` the second half of the gradient is zero (the
        model reads the first half of a mirror-ordered list, as SchNet does)."""
        n_pairs = vectors.shape[0]
        if mirrored:
            half = n_pairs // 2
            vectors, idx_i, idx_j = vectors[:half], idx_i[:half], idx_j[:half]
        r = torch.linalg.vector_norm(vectors, dim=1)
        x = self.embedding[numbers]
        n_atoms = x.shape[0]
        fc, d, rbf, first, raw, filters = r, r, r, r, r, r  # filter networks only (else unused)
        if not self.tabulated:  # as SchNet.filters: W = (ssp(rbf W1 + b1) W2 + b2) fc, all blocks
            fc = self.cutoff_fn(r)
            d = r[:, None] - self.rbf.centers
            rbf = self.rbf(r)
            w1 = self.filter_w1
            first = torch.baddbmm(self.filter_b1[:, None, :], rbf[None].expand(w1.shape[0], -1, -1), w1)
            raw = torch.baddbmm(self.filter_b2[:, None, :], nn.functional.softplus(first), self.filter_w2)
            filters = raw * fc[None, :, None]
        hs: list[Tensor] = []
        pre: list[Tensor] = []
        for k in range(len(self.w_in)):
            h = torch.mm(x, self.w_in[k].t())
            if self.tabulated:
                c = torch.ops.zoo.cfconv_tab(
                    h, r, idx_i, idx_j, self.tables[k], self.step, self.cutoff, mirrored
                )
            else:  # as SchNetInteraction.forward
                w = filters[k]
                c = scatter_sum(h[idx_j] * w, idx_i, n_atoms)
                if mirrored:
                    c = c.index_add(0, idx_j, h[idx_i] * w)
            a = torch.addmm(self.b1[k], c, self.w1[k].t())
            x = x + torch.addmm(self.b2[k], self._ssp(a), self.w2[k].t())
            hs.append(h)
            pre.append(a)
        # energy head: y = MLP(x) * std + mean + atomref[Z], summed (or averaged) per structure
        head_pre: list[Tensor] = []
        z = x
        n_layers = len(self.head_w)
        for k in range(n_layers):
            z = torch.addmm(self.head_b[k], z, self.head_w[k].t())
            if k < n_layers - 1:
                head_pre.append(z)
                z = self._ssp(z)
        y = z * self.std + self.mean + self.atomref[numbers]
        weight = atom_weight[:, None]
        total = scatter_sum(y * weight, idx_m, n_structures)
        dy = weight * self.std  # d(sum of the totals)/dy
        if self.mean_aggregation:
            count = scatter_sum(weight, idx_m, n_structures).clamp(min=1.0)
            total = total / count
            dy = dy / count[idx_m]
        # backward: the head's MLP, then the blocks in reverse
        g = dy
        for k in range(n_layers - 1, -1, -1):
            g = torch.mm(g, self.head_w[k])
            if k > 0:
                g = self._ssp_backward(g, head_pre[k - 1])
        gx = g
        grad_r = torch.zeros_like(r)
        grad_filters = torch.empty_like(filters) if not self.tabulated else r  # dE/dW, all blocks
        for k in range(len(self.w_in) - 1, -1, -1):
            gc = torch.mm(self._ssp_backward(torch.mm(gx, self.w2[k]), pre[k]), self.w1[k])
            if self.tabulated:
                gh, gr = torch.ops.zoo.cfconv_tab_backward(
                    gc, hs[k], r, idx_i, idx_j, self.tables[k], self.step, self.cutoff, mirrored
                )
                grad_r = grad_r + gr
            else:  # c_i += h_j W_p (and, mirrored, c_j += h_i W_p)
                w, h = filters[k], hs[k]
                gci = gc[idx_i]
                gh = scatter_sum(gci * w, idx_j, n_atoms)
                gw = gci * h[idx_j]
                if mirrored:
                    gcj = gc[idx_j]
                    gh = gh.index_add(0, idx_i, gcj * w)
                    gw = gw + gcj * h[idx_i]
                grad_filters[k] = gw
            gx = gx + torch.mm(gh, self.w_in[k])
        if not self.tabulated:
            grad_r = self._filter_backward(grad_filters, r, fc, d, rbf, first, raw)
        grad = (grad_r / r)[:, None] * vectors  # dr/dv = v / r (checks keep r >= 0.1 Å)
        if mirrored:
            grad = torch.cat(
                [grad, torch.zeros(n_pairs - grad.shape[0], 3, dtype=grad.dtype, device=grad.device)]
            )
        return x, total.squeeze(1), y.squeeze(1), grad

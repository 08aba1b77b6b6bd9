"""The artifact's function as one traced graph of aten operations, for the ONNX and AOTInductor encodings.

Neither ONNX exporter of torch 2.13 traces ``torch.autograd.grad`` inside a forward, and torch.export
needs a graph without data-dependent Python control flow. What works for both:
1. a check-free, shape-static re-statement of the model (``TraceableModel``): SchNet as is (optionally
   on mirror-ordered pairs, export/SPEC.md "Pair order"); ACSF's angular sums over neighbour pairs
   rewritten without triplet lists (``(1 + lambda cos)^zeta`` expanded in powers of cos = u_j . u_k, and
   sum_{j<k} a_j a_k (u_j.u_k)^n = (|sum_j a_j u_j^(x)n|^2 - sum_j a_j^2) / 2);
   per-element networks evaluated for all atoms and selected by a mask instead of ``nonzero``;
2. the energy differentiated w.r.t. the pair vectors with ``torch.func.grad_and_value``;
3. the whole function traced by ``make_fx(..., tracing_mode="symbolic")`` with the parameters as explicit
   inputs (``torch.func.functional_call``), so the gradient becomes plain graph operations;
4. that graph with the parameters re-attached as buffers (``traced_artifact``), ready for
   ``torch.onnx.export(dynamo=True)`` or ``torch.export`` + AOTInductor with dynamic atom and pair counts.
Species and distance checks are not in the graph: the caller does them.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from zoo.errors import ArtifactError
from zoo.export.torchscript import DTYPES
from zoo.heads import Atomwise, DipoleMoment, ElementalMLP, _PlainMLP
from zoo.model import AtomisticModel
from zoo.nn import ACSF, SchNet
from zoo.nn.blocks import gaussian, scatter_sum

INPUT_NAMES = ["positions", "numbers", "edge_index", "shifts", "n_local"]
OUTPUT_NAMES = ["energy", "atom_energies", "forces", "virial", "atom_virial"]


def acsf_static(rep: ACSF) -> tuple[list[float], list[float], list[int], list[int]]:
    """Python constants of an ACSF module (read before tracing): zetas, lambdas, element pair classes."""
    zetas = [float(z) for z in rep.zetas.tolist()]
    if any(z != int(z) or z < 0 for z in zetas):
        raise ArtifactError("ONNX export of ACSF needs non-negative integer zetas")
    lambdas = [float(x) for x in rep.lambdas.tolist()]
    if rep.weighted:
        return zetas, lambdas, [0], [0]
    first, second = [], []
    for k in range(rep.n_element_pairs):
        pairs = torch.nonzero(rep.pair_index == k)
        e, f = int(pairs[0, 0]), int(pairs[0, 1])
        first.append(min(e, f))
        second.append(max(e, f))
    return zetas, lambdas, first, second


def _outer_power(u: Tensor, n: int) -> Tensor:
    """u^(x)n flattened: (P, 3**n); n = 0 gives ones (P, 1)."""
    out = torch.ones(u.shape[0], 1, dtype=u.dtype, device=u.device)
    for _ in range(n):
        out = (out[:, :, None] * u[:, None, :]).flatten(1)
    return out


def acsf_features(
    rep: ACSF, numbers: Tensor, vectors: Tensor, idx_i: Tensor, idx_j: Tensor, static: tuple | None = None
) -> Tensor:
    """ACSF.forward without triplet lists (same numbers up to rounding); crossterms unsupported.

    The moment sums cancel (|S|^2 - sum a^2) when a centre has few neighbours of an element class, so they
    are evaluated in float64 also for float32 artifacts and cast back.
    """
    out_dtype = vectors.dtype
    vectors = vectors.to(torch.float64)
    n_atoms = numbers.shape[0]
    r = torch.linalg.vector_norm(vectors, dim=1)
    fc = rep.cutoff_fn(r)
    el = rep.elem_index[numbers]
    zj = numbers[idx_j].to(r.dtype)
    g2 = gaussian(rep.coef_r.to(torch.float64) * (r[:, None] - rep.mu_r.to(torch.float64)) ** 2) * fc[:, None]
    if rep.weighted:
        rad = scatter_sum(g2 * zj[:, None], idx_i, n_atoms)
    else:
        onehot = nn.functional.one_hot(el[idx_j], rep.n_elements).to(g2.dtype)
        rad = scatter_sum((onehot[:, :, None] * g2[:, None, :]).flatten(1), idx_i, n_atoms)

    zetas, lambdas, first, second = static if static is not None else acsf_static(rep)
    max_n = int(max(zetas))
    u = vectors / r[:, None]
    h = gaussian(rep.coef_a.to(torch.float64) * (r * r)[:, None]) * fc[:, None]  # (P, A)
    if rep.weighted:
        h = h * zj[:, None]
        groups = h[:, None, :]  # (P, 1, A)
    else:
        groups = nn.functional.one_hot(el[idx_j], rep.n_elements).to(h.dtype)[:, :, None] * h[:, None, :]
    n_groups = groups.shape[1]
    n_a = h.shape[1]
    sq = scatter_sum((groups * groups).flatten(1), idx_i, n_atoms).reshape(n_atoms, n_groups, n_a)
    same = torch.tensor(
        [float(a == b) for a, b in zip(first, second, strict=True)], dtype=h.dtype, device=h.device
    )
    fi = torch.tensor(first, dtype=torch.long, device=h.device)
    se = torch.tensor(second, dtype=torch.long, device=h.device)
    sums = []  # sums[n]: (N, n_pairs, A) = sum_{p<q in pair class} h_p h_q (u_p . u_q)^n
    for n in range(max_n + 1):
        un = _outer_power(u, n)  # (P, 3^n)
        m = scatter_sum((groups[:, :, :, None] * un[:, None, None, :]).flatten(1), idx_i, n_atoms)
        m = m.reshape(n_atoms, n_groups, n_a, un.shape[1])
        t = (m[:, fi] * m[:, se]).sum(-1)  # (N, n_pairs, A)
        diag = sq[:, fi]
        sums.append(t - same[None, :, None] * 0.5 * (t + diag))  # e == f: (t - diag) / 2
    cols = []
    for a_z in [(z, lam) for z in zetas for lam in lambdas]:
        zeta, lam = a_z
        acc = torch.zeros_like(sums[0])
        for n in range(int(zeta) + 1):
            acc = acc + math.comb(int(zeta), n) * lam**n * sums[n]
        cols.append(acc * 2.0 ** (1.0 - zeta))
    ang = torch.stack(cols, dim=-1)  # (N, n_pairs, A, Z*2) ordered (zeta, lambda) like ACSF
    ang = ang.flatten(1)
    feats = (torch.cat([rad, ang], dim=1) - rep.mean.to(torch.float64)) / rep.std.to(torch.float64)
    return feats.to(out_dtype)


def elemental(net: ElementalMLP, x: Tensor, numbers: Tensor) -> Tensor:
    el = net.elem_index[numbers]
    out = torch.zeros(x.shape[0], net.n_out, dtype=x.dtype, device=x.device)
    for k, sub in enumerate(net.nets):
        out = out + (el == k).to(x.dtype)[:, None] * sub(x)
    return out


def head_net(net: nn.Module, x: Tensor, numbers: Tensor) -> Tensor:
    if isinstance(net, ElementalMLP):
        return elemental(net, x, numbers)
    if isinstance(net, _PlainMLP):
        return net.mlp(x)
    raise ArtifactError(f"ONNX export does not know the network {type(net).__name__}")


def _assert_mirror_ordered(edge_index: Tensor, shifts: Tensor) -> None:
    """A run-time check inside the graph (O(P)): a compiled graph that assumes mirror order fails with a
    message, instead of returning wrong numbers, when called directly with another pair order."""
    n_pairs = edge_index.shape[1]
    half = n_pairs // 2
    first, second = edge_index[:, :half], edge_index[:, half : 2 * half]
    ok = (first.flip(0) == second).all() & (shifts[:half] == -shifts[half : 2 * half]).all()
    ok = ok & (torch.ones((), dtype=torch.long, device=edge_index.device) * (n_pairs - 2 * half) == 0)
    torch._assert_async(ok, "zoo: the pair list is not mirror-ordered (export/SPEC.md, Pair order)")


class TraceableModel(nn.Module):
    """The artifact's function without Python control flow on data (for make_fx / ONNX)."""

    def __init__(self, model: AtomisticModel, mirrored: bool = False) -> None:
        super().__init__()
        rep = model.representation
        if isinstance(rep, ACSF) and rep.crossterms:
            raise ArtifactError(
                "ONNX export of ACSF with crossterms=True is not supported; export TorchScript"
            )
        if not isinstance(rep, SchNet | ACSF):
            raise ArtifactError(f"ONNX export does not know the representation {type(rep).__name__}")
        self.model = model
        self.energy_key = model.energy_key
        self.dipole_key = next((k for k in model.heads if k == "dipole"), None)
        self.static = acsf_static(rep) if isinstance(rep, ACSF) else None
        self.mirrored = mirrored  # SchNet: pairs are mirror-ordered (export/SPEC.md "Pair order")

    def features(self, numbers: Tensor, vectors: Tensor, idx_i: Tensor, idx_j: Tensor) -> Tensor:
        rep = self.model.representation
        if isinstance(rep, ACSF):
            return acsf_features(rep, numbers, vectors, idx_i, idx_j, self.static)
        return rep(numbers, vectors, idx_i, idx_j, self.mirrored)

    def forward(
        self, positions: Tensor, numbers: Tensor, edge_index: Tensor, shifts: Tensor, n_local: Tensor
    ):
        idx_i, idx_j = edge_index[0], edge_index[1]
        n = positions.shape[0]
        if self.mirrored:
            _assert_mirror_ordered(edge_index, shifts)
        weight = (torch.arange(n, device=positions.device) < n_local).to(positions.dtype)
        head = self.model.heads[self.energy_key]
        assert isinstance(head, Atomwise) and head.n_out == 1

        def energy_fn(vectors: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
            x = self.features(numbers, vectors, idx_i, idx_j)
            y = head_net(head.net, x, numbers) * head.std + head.mean + head.atomref[numbers]
            y = y[:, 0]
            total = (y * weight).sum()
            if head.aggregation == "mean":
                total = total / weight.sum().clamp(min=1.0)
            return total, (y, x)

        vectors = positions[idx_j] - positions[idx_i] + shifts
        g, (energy, (atom_energies, x)) = torch.func.grad_and_value(energy_fn, has_aux=True)(vectors)
        forces = scatter_sum(g, idx_i, n) - scatter_sum(g, idx_j, n)
        w = -(vectors[:, :, None] * g[:, None, :])
        virial = w.sum(0)
        atom_virial = 0.5 * (scatter_sum(w, idx_i, n) + scatter_sum(w, idx_j, n))
        outs = [energy, atom_energies, forces, virial, atom_virial]
        if self.dipole_key is not None:
            outs.append(
                self._dipole(self.model.heads[self.dipole_key], x.detach(), numbers, positions, weight)
            )
        return tuple(outs)

    def _dipole(
        self, head: DipoleMoment, x: Tensor, numbers: Tensor, positions: Tensor, weight: Tensor
    ) -> Tensor:
        q = head_net(head.net, x, numbers)[:, 0] * weight
        n = weight.sum().clamp(min=1.0)
        q = q - (q.sum() - head.total_charge) / n * weight
        m = head.masses.to(positions.dtype)[numbers] * weight
        com = (positions * m[:, None]).sum(0) / m.sum().clamp(min=1e-12)
        return (q[:, None] * (positions - com)).sum(0)


def _tensorize_float_scalars(graph: torch.fx.GraphModule, dtype: torch.dtype) -> None:
    """Replace Python-float operands of aten ops (Tensor-typed schema arguments) by 0-d tensors.

    torch 2.13's ONNX exporter stores such scalars as float32 constants and casts them, which rounds
    e.g. pi/cutoff or log(2) and costs float64 artifacts ~1e-8 relative accuracy.
    """
    count = 0
    for node in list(graph.graph.nodes):
        if node.op != "call_function" or not hasattr(node.target, "_schema"):
            continue
        schema = node.target._schema
        new_args = list(node.args)
        for k, (arg, spec) in enumerate(zip(node.args, schema.arguments, strict=False)):
            if type(arg) is float and str(spec.type) == "Tensor":
                name = f"_zoo_scalar_{count}"
                count += 1
                graph.register_buffer(name, torch.tensor(arg, dtype=dtype))
                with graph.graph.inserting_before(node):
                    new_args[k] = graph.graph.get_attr(name)
        node.args = tuple(new_args)
    graph.graph.lint()
    graph.recompile()


class _GraphWithParams(nn.Module):
    def __init__(self, graph: torch.fx.GraphModule, params: dict[str, Tensor]) -> None:
        super().__init__()
        self.graph_module = graph
        self.names = list(params)
        for k, value in enumerate(params.values()):
            self.register_buffer(f"p{k}", value.detach().clone())

    def forward(self, positions, numbers, edge_index, shifts, n_local):
        params = {name: getattr(self, f"p{k}") for k, name in enumerate(self.names)}
        return self.graph_module(params, positions, numbers, edge_index, shifts, n_local)


def _example(dtype: torch.dtype, species: list[int], mirrored: bool) -> tuple:
    """A small random molecule, most pairs (P != N, N > 2 so that no shape is specialised)."""
    g = torch.Generator().manual_seed(0)
    n = 7
    pos = torch.randn(n, 3, generator=g, dtype=torch.float64).to(dtype) * 1.2
    num = torch.tensor([species[k % len(species)] for k in range(n)], dtype=torch.long)
    ii, jj = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    if mirrored:
        keep = ii < jj
        half = torch.stack([ii[keep], jj[keep]])[:, :-2]
        ei = torch.cat([half, half.flip(0)], 1)
    else:
        keep = ii != jj
        ei = torch.stack([ii[keep], jj[keep]])[:, :-3]
    sh = torch.zeros(ei.shape[1], 3, dtype=dtype)
    return pos, num, ei, sh, torch.tensor(n - 1, dtype=torch.long)


@dataclass
class TracedArtifact:
    """The artifact function as an ``nn.Module`` over the five SPEC inputs (n_local a 0-d int64 tensor),
    returning the tuple ``output_names``; ``example`` is a valid input for exporters."""

    module: nn.Module
    example: tuple
    output_names: list[str]
    dtype: torch.dtype


def traced_artifact(
    model: AtomisticModel, dtype: str = "float32", mirrored: bool = False, tensor_scalars: bool = False
) -> TracedArtifact:
    """Trace the energy-and-forces function of ``model`` (module docstring). With ``mirrored`` the graph
    assumes mirror-ordered pairs (SchNet then evaluates each filter once per unordered pair); with
    ``tensor_scalars`` Python-float operands become 0-d tensors of the artifact dtype (for ONNX)."""
    from torch.fx.experimental.proxy_tensor import make_fx

    tdt = DTYPES[dtype]
    m = copy.deepcopy(model).to(tdt).eval()
    if mirrored and isinstance(m.representation, SchNet):
        m.representation.pack_filters()
    traceable = TraceableModel(m, mirrored).eval()
    params = {k: v.detach() for k, v in traceable.named_parameters()}
    params.update({k: v for k, v in traceable.named_buffers()})

    def fn(p, positions, numbers, edge_index, shifts, n_local):
        return torch.func.functional_call(traceable, p, (positions, numbers, edge_index, shifts, n_local))

    example = _example(tdt, m.species, mirrored)
    with torch.no_grad():
        graph = make_fx(fn, tracing_mode="symbolic")(params, *example)
    if tensor_scalars:
        _tensorize_float_scalars(graph, tdt)
    names = list(OUTPUT_NAMES) + (["dipole"] if traceable.dipole_key is not None else [])
    return TracedArtifact(_GraphWithParams(graph, params).eval(), example, names, tdt)


def split_baddbmm(module: nn.Module) -> int:
    """Rewrite ``baddbmm(bias, a, b)`` as ``bmm(a, b) + bias`` in a traced artifact; returns the count.

    ATen's CPU baddbmm first copies the broadcast bias into the [blocks, pairs, F] output (profiled:
    two such copies were 128 ms of an 830 ms water-box call); as a separate add, a compiler fuses the
    bias into the following elementwise kernel instead (AOTInductor: ~16 % less time on that call).
    """
    graph_module = module.graph_module
    graph = graph_module.graph
    count = 0
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target != torch.ops.aten.baddbmm.default:
            continue
        if node.kwargs.get("beta", 1) != 1 or node.kwargs.get("alpha", 1) != 1:
            continue
        bias, a, b = node.args[:3]
        with graph.inserting_before(node):
            product = graph.call_function(torch.ops.aten.bmm.default, (a, b))
            summed = graph.call_function(torch.ops.aten.add.Tensor, (product, bias))
        node.replace_all_uses_with(summed)
        graph.erase_node(node)
        count += 1
    graph.lint()
    graph_module.recompile()
    return count


def dynamic_shapes(n_atoms: Any, n_pairs: Any) -> dict[str, Any]:
    """torch.export ``dynamic_shapes`` for the five inputs, given the two dimension objects."""
    return {
        "positions": {0: n_atoms},
        "numbers": {0: n_atoms},
        "edge_index": {1: n_pairs},
        "shifts": {0: n_pairs},
        "n_local": None,
    }


def check_against_torchscript(model: AtomisticModel, dtype: str, run: Any, what: str) -> None:
    """An exported encoding must reproduce the TorchScript artifact on a test structure.

    ``run(positions, numbers, edge_index, shifts, n_local)`` takes numpy arrays (mirror-ordered pairs)
    and returns {output name: array}; ``what`` names the encoding in the error.
    """
    import numpy as np

    from zoo.export.torchscript import script_artifact

    tdt = DTYPES[dtype]
    g = torch.Generator().manual_seed(1)
    n = 11
    pos = (torch.randn(n, 3, generator=g, dtype=torch.float64) * 1.4).to(tdt)
    num = torch.tensor([model.species[k % len(model.species)] for k in range(n)])
    ii, jj = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    keep = (ii < jj) & ((pos[jj] - pos[ii]).norm(dim=-1) > 0.5)
    half = torch.stack([ii[keep], jj[keep]])
    ei = torch.cat([half, half.flip(0)], 1)
    sh = torch.zeros(ei.shape[1], 3, dtype=tdt)
    ts = script_artifact(model, dtype)
    with torch.enable_grad():
        ref = ts(pos, num, ei, sh, n - 2)
    got = run(pos.numpy(), num.numpy(), ei.numpy(), sh.numpy(), n - 2)
    rtol = 1e-4 if dtype == "float32" else 1e-9
    for key, value in got.items():
        want = ref[key].detach().double().numpy()
        have = np.asarray(value, dtype=np.float64)
        dev = float(np.abs(have - want).max()) if have.shape == want.shape else float("inf")
        if dev > rtol * max(1e-6, float(np.abs(want).max())):
            raise ArtifactError(
                f"the {what} does not reproduce the TorchScript model for '{key}' "
                f"(max deviation {dev:.3g}); please report this"
            )

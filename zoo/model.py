"""AtomisticModel: representation + heads; forces and virial by one autograd pass over pair vectors.

The energy depends on positions only through the pair vectors r_p = R[j_p] - R[i_p] + shift_p.
With g_p = dE/dr_p:  F_i = sum_{p: i_p=i} g_p - sum_{p: j_p=i} g_p,  virial W = -sum_p r_p (x) g_p,
ASE stress = -W / V. The same function serves training batches and the exported artifact
(:class:`ArtifactModule`, the call signature of export/SPEC.md).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from zoo.errors import ModelError
from zoo.explicit_forces import ExplicitForces
from zoo.heads import Atomwise, DipoleMoment
from zoo.nn import ACSF, SchNet, scatter_sum

MODEL_KINDS = ("schnet", "acsf", "wacsf")
VECTOR_PROPERTIES = ("dipole", "dipole_moment")
DERIVED_PROPERTIES = ("forces", "stress")


class AtomisticModel(nn.Module):
    def __init__(
        self, representation: nn.Module, heads: dict[str, nn.Module], species: list[int], energy_key: str
    ) -> None:
        super().__init__()
        self.representation = representation
        self.heads = nn.ModuleDict(heads)
        self.species = sorted({int(z) for z in species})
        mask = torch.zeros(119, dtype=torch.bool)
        mask[torch.tensor(self.species)] = True
        self.register_buffer("species_mask", mask)
        self.energy_key = energy_key
        self.cutoff = float(representation.cutoff)
        self.n_interactions = int(representation.n_interactions)
        self.min_distance = 0.1  # Å; closer atoms are an input error, not physics
        # exported SchNet: forces without autograd (prepare_explicit_forces)
        self.explicit = ExplicitForces()

    @torch.jit.unused
    def prepare_explicit_forces(self) -> bool:
        """Export only, on a frozen copy in its final dtype: compute forces and virials by the backward
        pass written out (zoo.explicit_forces) where the model allows it; returns whether it does."""
        return self.explicit.prepare(self.representation, self.heads[self.energy_key])

    def check_inputs(self, numbers: Tensor, positions: Tensor, r: Tensor) -> None:
        bad = (numbers < 1) | (numbers > 118)
        if not bool(bad.any()):
            bad = ~self.species_mask[numbers]
        if bool(bad.any()):
            z = int(numbers[torch.nonzero(bad)[0, 0]])
            raise ModelError(
                f"element with atomic number {z} is not supported by this model (trained on {self.species})"
            )
        if not bool(torch.isfinite(positions).all()):
            raise ModelError("positions contain NaN or infinite values")
        if r.numel() > 0:
            rmin = float(r.min())
            if rmin < self.min_distance:
                raise ModelError(
                    f"two atoms are {int(rmin * 10000) / 10000.0} Å apart (less than {self.min_distance} Å)"
                )

    def forward(
        self,
        numbers: Tensor,
        positions: Tensor,
        edge_index: Tensor,
        shifts: Tensor,
        idx_m: Tensor,
        n_structures: int,
        atom_weight: Tensor,
        compute_forces: bool = True,
        compute_virial: bool = False,
        create_graph: bool = False,
        mirrored: bool = False,
    ) -> dict[str, Tensor]:
        """``mirrored``: the pair list's second half is its first half reversed (zoo.neighbors lists are);
        SchNet then evaluates its filters on half of the pairs. Caller lists (LAMMPS) use False."""
        idx_i, idx_j = edge_index[0], edge_index[1]
        vectors = positions[idx_j] - positions[idx_i] + shifts
        self.check_inputs(numbers, positions, torch.linalg.vector_norm(vectors.detach(), dim=1))
        return self.evaluate(
            numbers, positions, vectors, idx_i, idx_j, idx_m, n_structures, atom_weight,
            compute_forces, compute_virial, create_graph, mirrored,
        )  # fmt: skip

    def evaluate(
        self,
        numbers: Tensor,
        positions: Tensor,
        vectors: Tensor,
        idx_i: Tensor,
        idx_j: Tensor,
        idx_m: Tensor,
        n_structures: int,
        atom_weight: Tensor,
        compute_forces: bool,
        compute_virial: bool,
        create_graph: bool,
        mirrored: bool,
    ) -> dict[str, Tensor]:
        """`forward` after its input checks, on the pair vectors r_j - r_i + shift. It reads no value back
        to the host, so that a CUDA graph can hold it (zoo.cuda_graph)."""
        need_grad = compute_forces or compute_virial
        explicit = need_grad and not create_graph and self.explicit.ready  # exported SchNet artifacts
        if explicit:  # the energy head's outputs and g = dE/dvectors, without autograd
            x, energy, atom_energies, g = self.explicit(
                numbers, vectors, idx_i, idx_j, idx_m, n_structures, atom_weight, mirrored
            )
        else:
            if need_grad:
                vectors = vectors.detach().requires_grad_(True)
            x = self.representation(numbers, vectors, idx_i, idx_j, mirrored)
            energy, atom_energies, g = x, x, x  # set below
        out: dict[str, Tensor] = {}
        for name, head in self.heads.items():
            if explicit and name == self.energy_key:
                total, per_atom = energy, atom_energies
            else:
                total, per_atom = head(x, numbers, positions, idx_m, n_structures, atom_weight)
            out[name] = total
            if name == self.energy_key:
                out["atom_energies"] = per_atom
        if need_grad and not explicit:
            grads = torch.autograd.grad(
                [out[self.energy_key].sum()], [vectors], create_graph=create_graph, allow_unused=True
            )
            grad = grads[0]
            g = torch.zeros_like(vectors) if grad is None else grad
        if need_grad:
            if compute_forces:
                n = positions.shape[0]
                out["forces"] = scatter_sum(g, idx_i, n) - scatter_sum(g, idx_j, n)
            if compute_virial:
                w = -(vectors[:, :, None] * g[:, None, :])
                out["virial"] = scatter_sum(w, idx_m[idx_i], n_structures)
                # per-atom virial: each pair's share split equally between its two atoms
                n_atoms = positions.shape[0]
                out["atom_virial"] = 0.5 * (scatter_sum(w, idx_i, n_atoms) + scatter_sum(w, idx_j, n_atoms))
        return out


def is_mirror_ordered(edge_index: Tensor, shifts: Tensor) -> bool:
    """Whether pair p + P/2 is pair p seen from its other atom, (j, i, -shift), for every p < P/2 (the
    order of zoo.neighbors lists and of the C++ runtime's). SchNet then evaluates its filters on half of
    the pairs; any other order is evaluated pair by pair, with the same result up to rounding."""
    n_pairs = edge_index.shape[1]
    if n_pairs == 0 or n_pairs % 2 == 1:
        return False
    half = n_pairs // 2
    return (
        torch.equal(edge_index[0, half:], edge_index[1, :half])
        and torch.equal(edge_index[1, half:], edge_index[0, :half])
        and torch.equal(shifts[half:], -shifts[:half])
    )


class ArtifactModule(nn.Module):
    """The exported call signature (export/SPEC.md): one structure, caller's pairs, ghosts after n_local."""

    def __init__(self, model: AtomisticModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, positions: Tensor, numbers: Tensor, edge_index: Tensor, shifts: Tensor, n_local: int
    ) -> dict[str, Tensor]:
        n = positions.shape[0]
        idx_m = torch.zeros(n, dtype=torch.long, device=positions.device)
        weight = (torch.arange(n, device=positions.device) < n_local).to(positions.dtype)
        # forces need autograd: callers must not run this under torch.no_grad()/inference_mode
        mirror = is_mirror_ordered(edge_index, shifts)
        out = self.model(numbers, positions, edge_index, shifts, idx_m, 1, weight, True, True, False, mirror)
        return self._result(out)

    @torch.jit.export
    def forward_unchecked(
        self, positions: Tensor, numbers: Tensor, edge_index: Tensor, shifts: Tensor
    ) -> dict[str, Tensor]:
        """`forward` with every atom local, for a mirror-ordered pair list (export/SPEC.md "Pair order"),
        without the input checks: it reads no value back to the host, so that a CUDA graph can hold it
        (zoo.cuda_graph). Callers check elements, finite positions and distances themselves."""
        n = positions.shape[0]
        idx_m = torch.zeros(n, dtype=torch.long, device=positions.device)
        weight = torch.ones(n, dtype=positions.dtype, device=positions.device)
        idx_i, idx_j = edge_index[0], edge_index[1]
        vectors = positions[idx_j] - positions[idx_i] + shifts
        out = self.model.evaluate(
            numbers, positions, vectors, idx_i, idx_j, idx_m, 1, weight, True, True, False, True
        )
        return self._result(out)

    def _result(self, out: dict[str, Tensor]) -> dict[str, Tensor]:
        result: dict[str, Tensor] = {}
        for key, value in out.items():
            per_atom = key == "atom_energies" or key == "forces" or key == "atom_virial"
            result[key] = value if per_atom else value[0]
            result[key] = result[key].detach()
        if self.model.energy_key != "energy":
            result["energy"] = result[self.model.energy_key]
        return result


def default_config(
    kind: str, species: list[int], properties: list[str], cutoff: float = 5.0
) -> dict[str, Any]:
    """The model configuration stored in checkpoints; ``build_model`` turns it into a module."""
    if kind not in MODEL_KINDS:
        raise ModelError(f"unknown model kind {kind!r}; choose one of {', '.join(MODEL_KINDS)}")
    if cutoff <= 0:
        raise ModelError(f"cutoff must be positive, got {cutoff}")
    if not species:
        raise ModelError("the model needs at least one element")
    targets = [p for p in properties if p not in DERIVED_PROPERTIES]
    if not targets:
        raise ModelError("forces/stress need an energy property to differentiate (add 'energy')")
    if kind == "schnet":
        rep: dict[str, Any] = {"n_atom_basis": 128, "n_interactions": 6, "n_rbf": 20}
    else:
        rep = {"n_radial": 22, "n_angular": 5, "zetas": [1], "centered": False, "crossterms": False}
    return {
        "kind": kind,
        "species": sorted({int(z) for z in species}),
        "cutoff": float(cutoff),
        "properties": list(properties),
        "representation": rep,
        "head": {"n_layers": 2, "n_hidden": None, "aggregation": "sum"},
    }


def build_model(config: dict[str, Any]) -> AtomisticModel:
    cfg = copy.deepcopy(config)
    kind, species, cutoff = cfg["kind"], cfg["species"], float(cfg["cutoff"])
    if kind == "schnet":
        rep: nn.Module = SchNet(cutoff=cutoff, **cfg["representation"])
        elemental = False
    elif kind in ("acsf", "wacsf"):
        rep = ACSF(species, cutoff=cutoff, weighted=(kind == "wacsf"), **cfg["representation"])
        elemental = True
    else:
        raise ModelError(f"unknown model kind {kind!r}; choose one of {', '.join(MODEL_KINDS)}")
    head_cfg = cfg["head"]
    n_in = int(rep.n_out)
    heads: dict[str, nn.Module] = {}
    hidden = head_cfg.get("n_hidden")
    if elemental and hidden is None:
        hidden = [100, 100] if kind == "acsf" else [100, 100]
    for prop in cfg["properties"]:
        if prop in DERIVED_PROPERTIES:
            continue
        if prop in VECTOR_PROPERTIES:
            heads[prop] = DipoleMoment(
                n_in,
                hidden,
                head_cfg["n_layers"],
                species if elemental else None,
                magnitude=bool(head_cfg.get("dipole_magnitude", False)),
            )
        else:
            heads[prop] = Atomwise(
                n_in, 1, head_cfg["aggregation"], hidden, head_cfg["n_layers"], species if elemental else None
            )
    scalar = [p for p in heads if p not in VECTOR_PROPERTIES]
    energy_key = "energy" if "energy" in heads else (scalar[0] if scalar else next(iter(heads)))
    if any(p in cfg["properties"] for p in DERIVED_PROPERTIES) and energy_key not in scalar:
        raise ModelError("forces/stress need a scalar energy property to differentiate")
    return AtomisticModel(rep, heads, species, energy_key)

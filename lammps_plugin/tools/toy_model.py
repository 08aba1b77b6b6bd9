"""A small message-passing toy model written directly to the zoo artifact contract (export/SPEC.md).

It exists so that `pair_style schnet` can be tested and benchmarked before (and independently of)
the real exporter: a TorchScript module with the exact call signature

    forward(positions, numbers, edge_index, shifts, n_local) -> {energy, atom_energies, forces, virial}

SchNet-like: species embedding, `interactions` continuous-filter convolutions with Gaussian radial
basis times a cosine cutoff (exactly zero at and beyond the cutoff), an atom-wise output MLP.
Forces and virial come from one autograd pass over the pair vectors r_p, as SPEC.md prescribes.

Usage:  python lammps_plugin/tools/toy_model.py OUT.pt [--cutoff 4.0] [--interactions 2] [--dtype float64]

`reference(model_path, atoms)` evaluates an artifact in Python with a brute-force periodic
neighbour list (ase.neighborlist.neighbor_list 'ijS'): the reference the LAMMPS tests compare to.
"""

import argparse
import json
import math

import torch

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class ToyMessagePassing(torch.nn.Module):
    species: list[int]
    cutoff: float
    rep_eps: float
    rep_sigma: float
    n_interactions: int

    def __init__(self, species: list[int], cutoff: float = 4.0, interactions: int = 2, n_features: int = 16,
                 n_rbf: int = 12, seed: int = 0, dtype: torch.dtype = torch.float64):
        super().__init__()
        g = torch.Generator().manual_seed(seed)

        def rnd(*shape, scale=1.0):
            w = (torch.randn(*shape, generator=g) * scale).to(dtype)
            return torch.nn.Parameter(w, requires_grad=False)

        self.species = [int(z) for z in species]
        self.cutoff = float(cutoff)
        self.n_interactions = int(interactions)
        zmax = max(self.species) + 1
        self.embedding = rnd(zmax, n_features, scale=0.5)
        self.register_buffer("centers", torch.linspace(0.5, cutoff, n_rbf, dtype=dtype))
        self.gamma = 2.0 * (n_rbf / cutoff) ** 2 / 4.0
        self.filters = torch.nn.ParameterList(
            [rnd(n_rbf, n_features, scale=0.4) for _ in range(interactions)])
        self.updates = torch.nn.ParameterList(
            [rnd(n_features, n_features, scale=1.0 / math.sqrt(n_features)) for _ in range(interactions)])
        self.out1 = rnd(n_features, n_features, scale=1.0 / math.sqrt(n_features))
        self.out2 = rnd(n_features, 1, scale=0.1 / math.sqrt(n_features))
        self.rep_eps = 1.0     # eV
        self.rep_sigma = 0.8   # Å
        # per-element reference energies (eV)
        self.register_buffer("e0", -torch.arange(zmax, dtype=dtype) * 0.1)

    def forward(self, positions: torch.Tensor, numbers: torch.Tensor, edge_index: torch.Tensor,
                shifts: torch.Tensor, n_local: int) -> dict[str, torch.Tensor]:
        present: list[int] = torch.unique(numbers).tolist()
        for z in present:
            if z not in self.species:
                raise RuntimeError("atomic number " + str(z) + " is not in the model's species")
        i = edge_index[0]
        j = edge_index[1]
        r = (positions.index_select(0, j) - positions.index_select(0, i) + shifts).detach()
        r.requires_grad_(True)
        d = torch.sqrt((r * r).sum(1))
        fc = 0.5 * (torch.cos(d * (math.pi / self.cutoff)) + 1.0) * (d < self.cutoff).to(r.dtype)
        rbf = torch.exp(-self.gamma * (d.unsqueeze(1) - self.centers.unsqueeze(0)) ** 2)
        h = self.embedding.index_select(0, numbers)
        for filt, upd in zip(self.filters, self.updates, strict=True):
            w = (rbf @ filt) * fc.unsqueeze(1)
            m = h.index_select(0, j) * w
            agg = torch.zeros_like(h).index_add(0, i, m)
            h = h + torch.tanh(agg @ upd)
        atom_e = (torch.tanh(h @ self.out1) @ self.out2).squeeze(1) + self.e0.index_select(0, numbers)
        # short-range repulsive wall (keeps MD tests stable): 0.5 * eps * (sigma / d)^12 * fc per pair
        rep = 0.5 * self.rep_eps * (self.rep_sigma / d) ** 12 * fc
        atom_e = atom_e + torch.zeros_like(atom_e).index_add(0, i, rep)
        energy = atom_e[:n_local].sum()
        grads = torch.autograd.grad([energy], [r], allow_unused=True)
        gr = grads[0]
        if gr is None:
            gr = torch.zeros_like(r)
        forces = torch.zeros_like(positions).index_add(0, i, gr).index_add(0, j, -gr)
        virial = -(r.detach().unsqueeze(2) * gr.unsqueeze(1)).sum(0)
        return {"energy": energy.detach(), "atom_energies": atom_e.detach(), "forces": forces.detach(),
                "virial": virial.detach()}


def build(path: str, species=(1, 8), cutoff: float = 4.0, interactions: int = 2, dtype: str = "float64",
          seed: int = 0) -> str:
    """Script the toy model and save it as a zoo artifact (TorchScript + metadata.json)."""
    model = ToyMessagePassing(list(species), cutoff=cutoff, interactions=interactions, seed=seed,
                              dtype=_DTYPES[dtype])
    scripted = torch.jit.script(model.eval())
    meta = {
        "format_version": "1.0",
        "zoo_version": "0.1.0",
        "model_kind": "schnet",
        "cutoff": float(cutoff),
        "interactions": int(interactions),
        "receptive_field": float(cutoff) * int(interactions),
        "species": [int(z) for z in sorted(species)],
        "dtype": dtype,
        "outputs": ["energy", "atom_energies", "forces", "virial"],
        "per_atom_energies": True,
        "units": {"energy": "eV", "length": "Angstrom"},
        "description": "toy message-passing model for pair_style schnet tests "
                       "(lammps_plugin/tools/toy_model.py)",
    }
    # weights_sha256 covers only the tensor records (export/SPEC.md), so saving again with the digest in
    # the metadata leaves it valid
    from zoo.export.checksum import torchscript_weights_sha256

    torch.jit.save(scripted, path, _extra_files={"metadata.json": json.dumps(meta)})
    meta["weights_sha256"] = torchscript_weights_sha256(path)
    torch.jit.save(scripted, path, _extra_files={"metadata.json": json.dumps(meta)})
    return path


def load_metadata(path: str) -> dict:
    """The metadata of any zoo artifact (TorchScript .pt, AOTInductor .pt2, ONNX)."""
    from zoo.export import read_metadata

    return read_metadata(path)


def reference(path: str, atoms) -> dict:
    """Evaluate an artifact on an ase.Atoms with a brute-force periodic neighbour list (numpy results)."""
    import numpy as np
    from ase.neighborlist import neighbor_list

    try:  # zoo's operators, for artifacts with tabulated SchNet filters (export/SPEC.md, format 1.1)
        import zoo.ops  # noqa: F401
    except ImportError:
        pass
    extra = {"metadata.json": ""}
    model = torch.jit.load(path, _extra_files=extra)
    meta = json.loads(extra["metadata.json"])
    dtype = _DTYPES[meta["dtype"]]
    i, j, S = neighbor_list("ijS", atoms, meta["cutoff"])
    cell = torch.tensor(atoms.cell.array, dtype=torch.float64)
    shifts = torch.tensor(S, dtype=torch.float64) @ cell
    edge_index = torch.from_numpy(np.stack([i, j]).astype(np.int64)).reshape(2, -1)
    out = model(torch.tensor(atoms.positions, dtype=dtype), torch.tensor(atoms.numbers, dtype=torch.int64),
                edge_index, shifts.to(dtype), len(atoms))
    return {k: v.detach().to(torch.float64).numpy() for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--cutoff", type=float, default=4.0)
    ap.add_argument("--interactions", type=int, default=2)
    ap.add_argument("--dtype", default="float64", choices=sorted(_DTYPES))
    ap.add_argument("--species", default="1,8")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    build(a.out, [int(s) for s in a.species.split(",")], a.cutoff, a.interactions, a.dtype, a.seed)
    print(a.out)


if __name__ == "__main__":
    main()

"""Write small TorchScript artifacts honouring export/SPEC.md (format 1.0) for the C++ runtime tests.

The model is a species-dependent pair potential with a cosine cutoff; forces and virial come from one
autograd pass over the pair vectors, exactly as the SPEC prescribes. It is a stand-in until real
exported models (export/golden/) exist, and it is also what the runtime's own golden vectors use.

    python make_test_artifact.py OUT_DIR

writes into OUT_DIR:
  pair64.pt, pair32.pt          valid artifacts (float64 / float32), species H C N O, cutoff 3.0 Å
  future.pt                     format_version "2.0" (must be refused)
  operator.pt                   format 1.1 naming an operator this runtime lacks (must be refused)
  nometa.pt                     no metadata.json (must be refused)
  missing_cutoff.pt             metadata without "cutoff" (must be refused)
  tampered.pt                   weights_sha256 that does not match (must be refused)
  no_checksum.pt                metadata without weights_sha256 (must be refused)
  golden/<case>.pt + .json      golden vectors in the export/golden layout, pairs from ASE
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

SPECIES = [1, 6, 7, 8]
CUTOFF = 3.0


class PairPotential(torch.nn.Module):
    def __init__(self, species: list[int], cutoff: float):
        super().__init__()
        self.cutoff = cutoff
        lut = torch.full((119,), -1, dtype=torch.long)
        lut[torch.tensor(species)] = torch.arange(len(species))
        self.register_buffer("lut", lut)
        k = len(species)
        g = torch.Generator().manual_seed(7)
        self.a = torch.nn.Parameter(1.0 + torch.rand(k, generator=g, dtype=torch.float64))
        self.b = torch.nn.Parameter(1.0 + torch.rand(k, generator=g, dtype=torch.float64))
        self.c = torch.nn.Parameter(0.5 + torch.rand(k, generator=g, dtype=torch.float64))
        self.e0 = torch.nn.Parameter(-torch.rand(k, generator=g, dtype=torch.float64) * 10)

    def forward(
        self,
        positions: torch.Tensor,
        numbers: torch.Tensor,
        edge_index: torch.Tensor,
        shifts: torch.Tensor,
        n_local: int,
    ) -> dict[str, torch.Tensor]:
        t = self.lut[numbers]
        if bool((t < 0).any()):
            bad = int(numbers[t < 0][0])
            raise RuntimeError("element Z=" + str(bad) + " is not supported by this model")
        i = edge_index[0]
        j = edge_index[1]
        r = positions[j] - positions[i] + shifts
        r.requires_grad_(True)
        d = torch.linalg.norm(r, dim=1)
        fc = 0.5 * (torch.cos(math.pi * d / self.cutoff) + 1.0) * (d < self.cutoff).to(d.dtype)
        a = torch.sqrt(self.a[t[i]] * self.a[t[j]])
        b = 0.5 * (self.b[t[i]] + self.b[t[j]])
        c = self.c[t[i]] * self.c[t[j]]
        phi = (a * torch.exp(-b * d) - c / (1.0 + d * d)) * fc
        atom_energies = self.e0[t].index_add(0, i, 0.5 * phi)
        energy = atom_energies[:n_local].sum()
        grads = torch.autograd.grad([energy], [r], allow_unused=True)
        g = grads[0]
        if g is None:
            g = torch.zeros_like(r)
        forces = torch.zeros_like(positions).index_add(0, i, g).index_add(0, j, -g)
        virial = -(r.unsqueeze(2) * g.unsqueeze(1)).sum(0)
        return {
            "energy": energy.detach(),
            "atom_energies": atom_energies.detach(),
            "forces": forces.detach(),
            "virial": virial.detach(),
        }


def weights_sha256(path: Path) -> str:
    """export/SPEC.md rule: records data/<n>, constants/<n> in byte-sorted name order; name, then bytes."""
    reader = torch._C.PyTorchFileReader(str(path))
    pat = re.compile(r"^(data|constants)/[0-9]+$")
    h = hashlib.sha256()
    for name in sorted((n for n in reader.get_all_records() if pat.match(n)), key=lambda n: n.encode()):
        h.update(name.encode())
        h.update(reader.get_record(name))
    return h.hexdigest()


def metadata(dtype: str) -> dict:
    return {
        "format_version": "1.0",
        "zoo_version": "0.1.0",
        "encoding": "torchscript",
        "model_kind": "pair_test",
        "cutoff": CUTOFF,
        "interactions": 1,
        "receptive_field": CUTOFF,
        "species": SPECIES,
        "species_symbols": ["H", "C", "N", "O"],
        "dtype": dtype,
        "outputs": ["energy", "atom_energies", "forces", "virial"],
        "per_atom_energies": True,
        "weights_sha256": None,
    }


def scripted(dtype: torch.dtype) -> torch.jit.ScriptModule:
    m = PairPotential(SPECIES, CUTOFF).to(dtype).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return torch.jit.freeze(torch.jit.script(m).eval())


def save(module, path: Path, meta: dict | None, checksum: bool = True) -> None:
    if meta is None:
        torch.jit.save(module, str(path))
        return
    meta = dict(meta)
    torch.jit.save(module, str(path), _extra_files={"metadata.json": json.dumps(meta)})
    if checksum:
        meta["weights_sha256"] = weights_sha256(path)
        torch.jit.save(module, str(path), _extra_files={"metadata.json": json.dumps(meta, indent=1)})


def ase_pairs(positions, cell, pbc, cutoff):
    """Pairs from ASE (an independent reference for the C++ cell list); brute force without ASE."""
    cell = np.zeros((3, 3)) if cell is None else np.asarray(cell, dtype=np.float64)
    try:
        from ase.neighborlist import primitive_neighbor_list
    except ImportError:
        return brute_force_pairs(positions, cell, pbc, cutoff)
    i, j, S = primitive_neighbor_list("ijS", pbc, cell, positions, cutoff, self_interaction=False)
    shifts = S.astype(np.float64) @ cell
    return np.stack([i, j]).astype(np.int64), shifts


def brute_force_pairs(positions, cell, pbc, cutoff):
    """All image pairs within the cutoff, O(N^2 * images); periodic directions only shift."""
    pos = np.asarray(positions, dtype=np.float64)
    ranges = []
    for k in range(3):
        if pbc[k]:
            others = [cell[m] for m in range(3) if m != k]
            normal = np.cross(*others) if np.linalg.norm(np.cross(*others)) > 0 else cell[k]
            spacing = abs(cell[k] @ normal) / np.linalg.norm(normal)
            extent = np.ptp(pos @ normal / np.linalg.norm(normal)) if len(pos) else 0.0
            m = int(np.ceil((cutoff + extent) / spacing)) + 1
            ranges.append(range(-m, m + 1))
        else:
            ranges.append(range(0, 1))
    ii, jj, ss = [], [], []
    for a in ranges[0]:
        for b in ranges[1]:
            for c in ranges[2]:
                shift = a * cell[0] + b * cell[1] + c * cell[2]
                d = np.linalg.norm(pos[None, :, :] + shift - pos[:, None, :], axis=2)
                if a == b == c == 0:
                    np.fill_diagonal(d, np.inf)
                i, j = np.nonzero(d < cutoff)
                ii.append(i)
                jj.append(j)
                ss.append(np.tile(shift, (len(i), 1)))
    return np.stack([np.concatenate(ii), np.concatenate(jj)]).astype(np.int64), np.concatenate(ss)


def golden_case(module, name, out: Path, artifact: Path, positions, numbers, cell, pbc, n_local=None):
    positions = np.asarray(positions, dtype=np.float64)
    numbers = np.asarray(numbers, dtype=np.int64)
    n_local = len(numbers) if n_local is None else n_local
    edge_index, shifts = ase_pairs(positions, cell, pbc, CUTOFF)
    res = module(
        torch.from_numpy(positions),
        torch.from_numpy(numbers),
        torch.from_numpy(edge_index),
        torch.from_numpy(shifts),
        n_local,
    )
    doc = {
        "inputs": {
            "positions": positions.tolist(),
            "numbers": numbers.tolist(),
            "cell": None if cell is None else np.asarray(cell, dtype=np.float64).tolist(),
            "pbc": [bool(p) for p in pbc],
            "edge_index": edge_index.tolist(),
            "shifts": shifts.tolist(),
            "n_local": int(n_local),
        },
        "expected": {k: (v.item() if v.dim() == 0 else v.tolist()) for k, v in res.items()},
    }
    shutil.copyfile(artifact, out / f"{name}.pt")
    (out / f"{name}.json").write_text(json.dumps(doc))


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    m64 = scripted(torch.float64)
    save(m64, out / "pair64.pt", metadata("float64"))
    save(scripted(torch.float32), out / "pair32.pt", metadata("float32"))
    future = metadata("float64") | {"format_version": "2.0", "zoo_version": "2.3.0"}
    save(m64, out / "future.pt", future)
    operator = metadata("float64") | {"format_version": "1.1", "operators": ["zoo::from_the_future"]}
    save(m64, out / "operator.pt", operator | {"zoo_version": "2.3.0"})
    save(m64, out / "nometa.pt", None)
    save(m64, out / "missing_cutoff.pt", {k: v for k, v in metadata("float64").items() if k != "cutoff"})
    save(m64, out / "tampered.pt", metadata("float64") | {"weights_sha256": "0" * 64}, checksum=False)
    save(m64, out / "no_checksum.pt", metadata("float64"), checksum=False)

    gold = out / "golden"
    gold.mkdir(exist_ok=True)
    loaded = torch.jit.load(str(out / "pair64.pt"))
    rng = np.random.default_rng(3)
    # malonaldehyde-like molecule, non-periodic
    mol = [
        [0.0, 0.0, 0.0],
        [1.2, 0.1, 0.0],
        [2.0, 1.2, 0.1],
        [3.3, 1.1, -0.1],
        [4.0, 0.0, 0.2],
        [-0.5, 0.9, 0.1],
        [2.5, -0.8, 0.0],
        [1.6, 2.2, 0.3],
        [3.7, 2.0, -0.2],
    ]
    golden_case(
        loaded, "pair_molecule", gold, out / "pair64.pt", mol, [8, 6, 6, 6, 8, 1, 1, 1, 1], None, [False] * 3
    )
    # triclinic periodic cell smaller than the cutoff in one direction (several images)
    cell = np.array([[2.6, 0.0, 0.0], [0.9, 4.1, 0.0], [-0.7, 0.8, 4.4]])
    frac = rng.random((6, 3))
    golden_case(
        loaded,
        "pair_triclinic_small",
        gold,
        out / "pair64.pt",
        frac @ cell,
        [1, 8, 1, 6, 7, 1],
        cell,
        [True] * 3,
    )
    # slab: periodic in x, y only; positions partly outside the cell
    cell = np.array([[5.0, 0.0, 0.0], [1.5, 4.5, 0.0], [0.0, 0.0, 0.0]])
    frac = rng.random((12, 3)) * [1.3, 1.0, 1.0] - [0.2, 0.0, 0.0]
    pos = frac @ np.array([[5.0, 0.0, 0.0], [1.5, 4.5, 0.0], [0.0, 0.0, 6.0]])
    golden_case(
        loaded, "pair_slab", gold, out / "pair64.pt", pos, rng.choice(SPECIES, 12), cell, [True, True, False]
    )
    # ghosts (LAMMPS style): first 5 atoms local, last 4 ghosts; compute_pairs only
    golden_case(
        loaded,
        "pair_ghosts",
        gold,
        out / "pair64.pt",
        mol,
        [8, 6, 6, 6, 8, 1, 1, 1, 1],
        None,
        [False] * 3,
        n_local=5,
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("artifacts"))

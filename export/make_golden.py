"""Write the golden artifacts and test vectors of export/golden/ (see export/SPEC.md).

    python export/make_golden.py                 # (re)writes export/golden/
    python export/make_golden.py --out DIR       # somewhere else (the tests compare with the shipped ones)
    python export/make_golden.py --no-onnx       # skip the ONNX goldens

Everything is deterministic: seeded weights, fixed structures, a fixed creation date. Expected values
are the artifact's own outputs on CPU (TorchScript). Cases per kind (schnet, acsf, wacsf) and dtype:
  molecule  malonaldehyde, frame 0 of $ZOO_SHARED_DATA/md/xtb_malonaldehyde.npz (default ../shared/data)
  periodic  4 water molecules in a small triclinic cell (cell edges shorter than 2 x cutoff)
  ghost     the periodic cell unfolded into local + ghost atoms (n_local < N, zero shifts)
plus schnet_water_float64.pt/.json: a 192-atom periodic water frame (species H, O) for the LAMMPS example,
and schnet_water_table_float64.pt/.json: that model with tabulated filters (export/SPEC.md "Filter tables").
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from zoo.export import export_model, load_artifact  # noqa: E402
from zoo.model import build_model, default_config  # noqa: E402
from zoo.neighbors import neighbor_list  # noqa: E402

CREATED = "2026-01-01T00:00:00Z"
SPECIES = [1, 6, 8]
KINDS = ("schnet", "acsf", "wacsf")
DTYPES = ("float64", "float32")

SHARED = Path(os.environ.get("ZOO_SHARED_DATA", ROOT.parent / "shared" / "data"))
FILTER_TABLE = 512  # intervals of the tabulated golden
WATER_NPZ = SHARED / "water" / "data_0"
MD_NPZ = SHARED / "md" / "xtb_malonaldehyde.npz"


def molecule() -> tuple[np.ndarray, np.ndarray]:
    d = np.load(MD_NPZ)
    return np.asarray(d["R"][0], dtype=np.float64), np.asarray(d["z"], dtype=np.int64)


def triclinic_water() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """4 rigid water molecules placed with a seeded RNG in a small triclinic cell."""
    cell = np.array([[5.2, 0.0, 0.0], [1.1, 5.0, 0.0], [0.7, 0.9, 4.8]])
    rng = np.random.default_rng(20260101)
    oh, angle = 0.9572, np.deg2rad(104.52)
    mol = np.array([[0.0, 0.0, 0.0], [oh, 0.0, 0.0], [oh * np.cos(angle), oh * np.sin(angle), 0.0]])
    frac_o = np.array([[0.1, 0.1, 0.1], [0.6, 0.1, 0.55], [0.15, 0.6, 0.6], [0.6, 0.6, 0.1]])
    pos, num = [], []
    for f in frac_o:
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        pos.extend(f @ cell + mol @ q.T)
        num.extend([8, 1, 1])
    pos = np.round(np.array(pos), 6)
    return pos, np.array(num, dtype=np.int64), cell


def water_frame() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = WATER_NPZ / "set.000"
    pos = np.load(s / "coord.npy")[0].reshape(-1, 3).astype(np.float64)
    cell = np.load(s / "box.npy")[0].reshape(3, 3).astype(np.float64)
    types = np.loadtxt(WATER_NPZ / "type.raw", dtype=np.int64)
    type_map = (WATER_NPZ / "type_map.raw").read_text().split()
    numbers = np.array([{"O": 8, "H": 1}[type_map[t]] for t in types], dtype=np.int64)
    return pos, numbers, cell


def unfold_ghosts(pos: np.ndarray, num: np.ndarray, cell: np.ndarray, shell: float):
    """Local atoms + every periodic image within ``shell`` of a local atom (the LAMMPS ghost shell)."""
    inv_len = np.linalg.norm(np.linalg.inv(cell), axis=0)
    reach = [int(np.ceil(shell * inv_len[k])) + 1 for k in range(3)]
    g_pos, g_num = [], []
    for img in itertools.product(*(range(-r, r + 1) for r in reach)):
        if img == (0, 0, 0):
            continue
        p = pos + np.array(img, dtype=np.float64) @ cell
        d = np.linalg.norm(p[:, None, :] - pos[None, :, :], axis=-1).min(1)
        keep = d < shell
        g_pos.append(p[keep])
        g_num.append(num[keep])
    return np.concatenate([pos, *g_pos]), np.concatenate([num, *g_num])


def seeded_model(kind: str, species: list[int], cutoff: float, seed: int, fit: list) -> tuple:
    cfg = default_config(kind, species, ["energy", "forces"], cutoff=cutoff)
    if kind == "schnet":
        cfg["representation"].update(n_atom_basis=16, n_interactions=2, n_rbf=10)
    else:
        cfg["representation"].update(n_radial=4, n_angular=2, zetas=[1, 2])
        cfg["head"]["n_hidden"] = [8]
    torch.manual_seed(seed)
    model = build_model(cfg).double()
    with torch.no_grad():
        for p in model.parameters():  # O(1) weights so that forces are not tiny
            p.copy_(torch.randn(p.shape, dtype=p.dtype) * (1.0 / max(1, p.shape[-1]) ** 0.5))
        head = model.heads["energy"]
        head.atomref[torch.tensor(species)] = torch.linspace(-1.0, -2.0, len(species), dtype=torch.float64)[
            :, None
        ]
        if kind != "schnet":  # standardise symmetry functions on the golden structures
            feats = []
            for p, z, cell, pbc in fit:
                ei, sh = _pairs(p, z, cell, pbc, cutoff)
                v = torch.from_numpy(p)[ei[1]] - torch.from_numpy(p)[ei[0]] + sh
                feats.append(model.representation.raw_features(torch.from_numpy(z), v, ei[0], ei[1]))
            model.representation.fit_standardization(torch.cat(feats).double())
    model.eval()
    return model, cfg


def _pairs(pos, num, cell, pbc, cutoff):
    p = torch.from_numpy(np.ascontiguousarray(pos, dtype=np.float64))
    c = None if cell is None else torch.from_numpy(np.asarray(cell, dtype=np.float64))
    b = torch.tensor(pbc) if cell is not None else None
    ei, sh = neighbor_list(p, cutoff, c, b)
    order = torch.argsort(ei[0] * (len(num) + 1) + ei[1], stable=True)  # canonical pair order
    return ei[:, order], sh[order]


def _as_dtype(x: np.ndarray, dtype: str) -> np.ndarray:
    """Values exactly representable in the artifact dtype (kept as float64 for JSON)."""
    return (
        np.asarray(x, dtype=np.float32).astype(np.float64)
        if dtype == "float32"
        else np.asarray(x, np.float64)
    )


def write_case(out: Path, name: str, art_path: Path, pos, num, cell, pbc, ei, sh, n_local, dtype) -> dict:
    art = load_artifact(art_path)
    pos = _as_dtype(pos, dtype)
    sh = _as_dtype(sh.numpy() if torch.is_tensor(sh) else sh, dtype)
    ei = ei.numpy() if torch.is_tensor(ei) else ei
    res = art.compute(pos, num, ei, sh, n_local)
    doc = {
        "artifact": art_path.name,
        "inputs": {
            "positions": pos.tolist(),
            "numbers": [int(z) for z in num],
            "cell": None if cell is None else _as_dtype(cell, dtype).tolist(),
            "pbc": [bool(b) for b in pbc],
            "edge_index": ei.tolist(),
            "shifts": sh.tolist(),
            "n_local": int(n_local),
        },
        "expected": {
            "energy": float(res["energy"]),
            "atom_energies": res["atom_energies"].tolist(),
            "forces": res["forces"].tolist(),
            "virial": res["virial"].tolist(),
        },
    }
    (out / f"{name}.json").write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    return res


def make(out: Path, onnx: bool = True, verbose: bool = True) -> list[Path]:
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    mol_pos, mol_num = molecule()
    per_pos, per_num, per_cell = triclinic_water()
    cutoffs = {"schnet": 3.0, "acsf": 3.0, "wacsf": 3.0}
    for seed, kind in enumerate(KINDS):
        cutoff = cutoffs[kind]
        fit = [(mol_pos, mol_num, None, [False] * 3), (per_pos, per_num, per_cell, [True] * 3)]
        model, cfg = seeded_model(kind, SPECIES, cutoff, seed, fit)
        shell = cutoff * model.n_interactions
        g_pos, g_num = unfold_ghosts(per_pos, per_num, per_cell, shell)
        for dtype in DTYPES:
            stem = f"{kind}_{{}}_{dtype}"
            results = {}
            for case in ("molecule", "periodic", "ghost"):
                name = stem.format(case)
                art = out / f"{name}.pt"
                export_model(model, cfg, art, dtype=dtype, created=CREATED)
                if case == "molecule":
                    ei, sh = _pairs(_as_dtype(mol_pos, dtype), mol_num, None, [False] * 3, cutoff)
                    args = (mol_pos, mol_num, None, [False] * 3, ei, sh, len(mol_num))
                elif case == "periodic":
                    ei, sh = _pairs(_as_dtype(per_pos, dtype), per_num, per_cell, [True] * 3, cutoff)
                    args = (per_pos, per_num, per_cell, [True] * 3, ei, sh, len(per_num))
                else:
                    ei, sh = _pairs(_as_dtype(g_pos, dtype), g_num, None, [False] * 3, cutoff)
                    args = (g_pos, g_num, per_cell, [True] * 3, ei, sh, len(per_num))
                results[case] = write_case(out, name, art, *args, dtype)
                written += [art, out / f"{name}.json"]
            # the ghost case must reproduce the periodic one
            n = len(per_num)
            tol = 1e-9 if dtype == "float64" else 1e-4
            p, g = results["periodic"], results["ghost"]
            assert abs(p["energy"] - g["energy"]) <= tol * max(1.0, abs(p["energy"])), (kind, dtype)
            assert np.allclose(p["atom_energies"], g["atom_energies"][:n], atol=tol), (kind, dtype)
            folded = np.zeros((n, 3))
            owner = _owners(g_pos, per_pos, per_cell)
            np.add.at(folded, owner, g["forces"])
            assert np.allclose(folded, p["forces"], atol=tol * 10), (kind, dtype)
            if verbose:
                print(
                    f"{kind:6s} {dtype}: E_mol={results['molecule']['energy']:.6f} "
                    f"E_periodic={p['energy']:.6f} E_ghost={g['energy']:.6f} ({len(g_num)} atoms, "
                    f"{n} local)"
                )
        if onnx:
            from zoo.export import export_model as _exp

            art = out / f"{kind}_molecule_float32.onnx"
            _exp(model, cfg, art, fmt="onnx", dtype="float32", created=CREATED)
            written.append(art)

    # 192-atom water frame for the LAMMPS example (species H, O)
    w_pos, w_num, w_cell = water_frame()
    model, cfg = seeded_model("schnet", [1, 8], 4.0, 7, [])
    art = out / "schnet_water_float64.pt"
    export_model(model, cfg, art, dtype="float64", created=CREATED)
    ei, sh = _pairs(w_pos, w_num, w_cell, [True] * 3, 4.0)
    res = write_case(
        out, "schnet_water_float64", art, w_pos, w_num, w_cell, [True] * 3, ei, sh, len(w_num), "float64"
    )
    written += [art, out / "schnet_water_float64.json"]
    if verbose:
        print(f"schnet water float64: E={float(res['energy']):.6f} ({len(w_num)} atoms, {ei.shape[1]} pairs)")
    # the same model with tabulated filters (format 1.1, operator zoo::cfconv_tab; SPEC "Filter tables")
    art = out / "schnet_water_table_float64.pt"
    export_model(model, cfg, art, dtype="float64", created=CREATED, filter_table=FILTER_TABLE)
    tab = write_case(
        out,
        "schnet_water_table_float64",
        art,
        w_pos,
        w_num,
        w_cell,
        [True] * 3,
        ei,
        sh,
        len(w_num),
        "float64",
    )
    written += [art, out / "schnet_water_table_float64.json"]
    dev = float(np.abs(np.asarray(tab["forces"]) - np.asarray(res["forces"])).max())
    assert dev < 1e-6 * float(np.abs(np.asarray(res["forces"])).max()), dev
    if verbose:
        print(
            f"schnet water table float64: E={float(tab['energy']):.6f}, "
            f"forces within {dev:.2g} of the network"
        )
    return written


def _owners(g_pos: np.ndarray, pos: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Index of the local atom each (local or ghost) atom is an image of."""
    inv = np.linalg.inv(cell)
    d = (g_pos[:, None, :] - pos[None, :, :]) @ inv
    d -= np.round(d)
    return np.argmin(np.linalg.norm(d @ cell, axis=-1), axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "golden")
    ap.add_argument("--no-onnx", action="store_true")
    args = ap.parse_args()
    files = make(args.out, onnx=not args.no_onnx)
    total = sum(f.stat().st_size for f in files)
    print(f"wrote {len(files)} files, {total / 1e6:.2f} MB, to {args.out}")


if __name__ == "__main__":
    main()

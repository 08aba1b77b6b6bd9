"""Physics of the models: forces = -dE/dR, symmetries, extensivity, ACSF against a hand-written reference."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from conftest import water_frame

from zoo.errors import ModelError
from zoo.model import ArtifactModule, build_model, default_config
from zoo.neighbors import neighbor_list
from zoo.nn import ACSF

KINDS = ["schnet", "acsf", "wacsf"]


def small_model(kind: str, properties=("energy", "forces"), species=(1, 6, 8), cutoff=4.0):
    torch.manual_seed(1)
    cfg = default_config(kind, list(species), list(properties), cutoff)
    if kind == "schnet":
        cfg["representation"].update(n_atom_basis=32, n_interactions=3, n_rbf=16)
    else:
        cfg["representation"].update(n_radial=6, n_angular=3, zetas=[1, 4])
        cfg["head"]["n_hidden"] = [16, 16]
    model = build_model(cfg).double()
    for p in model.parameters():  # non-trivial weights everywhere
        p.data.normal_(0.0, 0.3)
    return model


def energy_forces(model, pos, numbers, cell=None, pbc=None, stress=False):
    pos_t = torch.as_tensor(pos, dtype=torch.float64)
    cell_t = torch.as_tensor(cell, dtype=torch.float64) if cell is not None else None
    pbc_t = torch.as_tensor(pbc) if pbc is not None else None
    edge, shifts = neighbor_list(pos_t, model.cutoff, cell_t, pbc_t)
    out = ArtifactModule(model)(pos_t, torch.as_tensor(numbers), edge, shifts, len(numbers))
    return out


@pytest.fixture(scope="module")
def malonaldehyde(shared_data):
    d = np.load(shared_data / "md" / "xtb_malonaldehyde.npz")
    return d["R"][0], d["z"]


@pytest.mark.parametrize("kind", KINDS)
def test_forces_are_minus_gradient(kind, malonaldehyde):
    pos, z = malonaldehyde
    model = small_model(kind)
    out = energy_forces(model, pos, z)
    eps = 1e-5
    for atom, axis in [(0, 0), (3, 1), (8, 2)]:
        p1, p2 = pos.copy(), pos.copy()
        p1[atom, axis] += eps
        p2[atom, axis] -= eps
        fd = -(
            float(energy_forces(model, p1, z)["energy"]) - float(energy_forces(model, p2, z)["energy"])
        ) / (2 * eps)
        assert abs(float(out["forces"][atom, axis]) - fd) < 1e-6 * max(1.0, abs(fd))


def _rotation(seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


@pytest.mark.parametrize("kind", KINDS)
def test_invariance(kind, malonaldehyde):
    pos, z = malonaldehyde
    model = small_model(kind)
    ref = energy_forces(model, pos, z)
    rot = _rotation(3)
    moved = pos @ rot.T + np.array([1.3, -2.0, 0.7])
    out = energy_forces(model, moved, z)
    assert float(out["energy"]) == pytest.approx(float(ref["energy"]), rel=1e-10, abs=1e-10)
    np.testing.assert_allclose(out["forces"].numpy(), ref["forces"].numpy() @ rot.T, atol=1e-9)
    perm = np.random.default_rng(0).permutation(len(z))
    out = energy_forces(model, pos[perm], z[perm])
    assert float(out["energy"]) == pytest.approx(float(ref["energy"]), rel=1e-10)
    np.testing.assert_allclose(out["forces"].numpy(), ref["forces"].numpy()[perm], atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_periodic_supercell_is_extensive(kind, shared_data):
    pos, z, box = water_frame(shared_data)
    pos, z = pos[:48], z[:48]  # a sparse cell keeps the test fast; periodicity is what matters
    model = small_model(kind, species=(1, 8), cutoff=3.5)
    e1 = energy_forces(model, pos, z, box, [True] * 3)
    rep = [pos + np.array([a, 0, 0]) @ box for a in range(2)]
    e2 = energy_forces(
        model, np.concatenate(rep), np.concatenate([z, z]), box * np.array([[2], [1], [1]]), [True] * 3
    )
    assert float(e2["energy"]) == pytest.approx(2 * float(e1["energy"]), rel=1e-9)
    np.testing.assert_allclose(e2["forces"].numpy()[: len(z)], e1["forces"].numpy(), atol=1e-9)


@pytest.mark.parametrize("kind", ["schnet", "acsf"])
def test_stress_is_strain_derivative(kind, shared_data):
    pos, z, box = water_frame(shared_data)
    pos, z = pos[:24], z[:24]
    model = small_model(kind, species=(1, 8), cutoff=3.5)
    out = energy_forces(model, pos, z, box, [True] * 3)
    volume = abs(np.linalg.det(box))
    stress = -out["virial"].numpy() / volume
    eps = 1e-6
    for a, b in [(0, 0), (1, 2), (2, 1)]:
        strain = np.eye(3)
        strain[a, b] += eps
        ep = float(energy_forces(model, pos @ strain.T, z, box @ strain.T, [True] * 3)["energy"])
        strain[a, b] -= 2 * eps
        em = float(energy_forces(model, pos @ strain.T, z, box @ strain.T, [True] * 3)["energy"])
        assert stress[a, b] == pytest.approx((ep - em) / (2 * eps) / volume, rel=1e-5, abs=1e-9)


def _fc(r, rc):
    return 0.5 * (math.cos(math.pi * r / rc) + 1) if r < rc else 0.0


@pytest.mark.parametrize("weighted", [False, True])
def test_acsf_matches_hand_written_reference(weighted):
    """Three atoms (O, H, H): G2 and G4 summed by hand from their defining formulas."""
    rc = 4.0
    pos = np.array([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.1]])
    z = np.array([8, 1, 1])
    species = [1, 8]
    rep = ACSF(species, cutoff=rc, n_radial=4, n_angular=2, zetas=(1, 2), weighted=weighted).double()
    edge, shifts = neighbor_list(torch.tensor(pos), rc)
    vec = torch.tensor(pos)[edge[1]] - torch.tensor(pos)[edge[0]]
    got = rep.raw_features(torch.tensor(z), vec, edge[0], edge[1]).numpy()

    mu = np.linspace(1.0, rc - 0.5, 4)
    width = mu[1] - mu[0]
    widths_a = np.linspace(1.0, rc - 0.5, 2)
    pairs = [(1, 1), (1, 8), (8, 8)]
    for i in range(3):
        rad = np.zeros((1 if weighted else 2, 4))
        ang = np.zeros((1 if weighted else 3, 2, 2, 2))  # (element pair, eta, zeta, lambda)
        for j in range(3):
            if j == i:
                continue
            rij = np.linalg.norm(pos[j] - pos[i])
            g = np.exp(-((rij - mu) ** 2) / (2 * width**2)) * _fc(rij, rc)
            if weighted:
                rad[0] += z[j] * g
            else:
                rad[species.index(z[j])] += g
        for j, k in itertools.combinations([a for a in range(3) if a != i], 2):
            vij, vik = pos[j] - pos[i], pos[k] - pos[i]
            rij, rik = np.linalg.norm(vij), np.linalg.norm(vik)
            cos = vij @ vik / (rij * rik)
            for e, w in enumerate(widths_a):
                radial = math.exp(-(rij**2 + rik**2) / (2 * w**2)) * _fc(rij, rc) * _fc(rik, rc)
                for s, zeta in enumerate((1, 2)):
                    for t, lam in enumerate((1, -1)):
                        val = 2 ** (1 - zeta) * (1 + lam * cos) ** zeta * radial
                        if weighted:
                            ang[0, e, s, t] += z[j] * z[k] * val
                        else:
                            key = tuple(sorted((z[j], z[k])))
                            ang[pairs.index(key), e, s, t] += val
        expected = np.concatenate([rad.ravel(), ang.ravel()])
        np.testing.assert_allclose(got[i], expected, rtol=1e-12, atol=1e-14)


def test_unknown_element_and_close_atoms_are_refused(malonaldehyde):
    pos, z = malonaldehyde
    model = small_model("schnet")
    bad = z.copy()
    bad[0] = 26
    with pytest.raises(Exception, match="atomic number 26 is not supported"):
        energy_forces(model, pos, bad)
    close = pos.copy()
    close[1] = close[0] + 0.01
    with pytest.raises(Exception, match="Å apart"):
        energy_forces(model, close, z)


def test_bad_model_configuration():
    with pytest.raises(ModelError, match="cutoff must be positive"):
        default_config("schnet", [1], ["energy"], cutoff=0.0)
    with pytest.raises(ModelError, match="unknown model kind"):
        default_config("painn", [1], ["energy"])
    with pytest.raises(ModelError, match="need an energy"):
        default_config("schnet", [1], ["forces"])


def test_dipole_head_is_equivariant(malonaldehyde):
    pos, z = malonaldehyde
    for kind in ("schnet", "acsf"):
        model = small_model(kind, properties=("dipole",))
        pos_t = torch.tensor(pos)
        edge, shifts = neighbor_list(pos_t, model.cutoff)
        args = (
            torch.tensor(z),
            pos_t,
            edge,
            shifts,
            torch.zeros(len(z), dtype=torch.long),
            1,
            torch.ones(len(z)).double(),
        )
        mu = model(*args, False, False, False)["dipole"][0].detach().numpy()
        rot = _rotation(5)
        pos_r = torch.tensor(pos @ rot.T + 3.0)
        edge, shifts = neighbor_list(pos_r, model.cutoff)
        mu_r = (
            model(torch.tensor(z), pos_r, edge, shifts, *args[4:], False, False, False)["dipole"][0]
            .detach()
            .numpy()
        )
        np.testing.assert_allclose(mu_r, rot @ mu, atol=1e-9)


def test_atom_virial_sums_to_virial(shared_data):
    pos, z, box = water_frame(shared_data)
    model = small_model("schnet", species=(1, 8), cutoff=3.5)
    out = energy_forces(model, pos[:24], z[:24], box, [True] * 3)
    assert out["atom_virial"].shape == (24, 3, 3)
    torch.testing.assert_close(out["atom_virial"].sum(0), out["virial"], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["schnet", "acsf"])
def test_pair_order_does_not_change_results(kind, shared_data):
    """A mirror-ordered list (zoo.neighbors, the C++ runtime) takes SchNet's half-pair path; the same
    pairs in any other order (LAMMPS) give the same numbers to float64 rounding."""
    from zoo.model import is_mirror_ordered

    pos, z, box = water_frame(shared_data)
    model = small_model(kind, species=(1, 8), cutoff=3.5)
    pos_t = torch.as_tensor(pos, dtype=torch.float64)
    edge, shifts = neighbor_list(pos_t, model.cutoff, torch.as_tensor(box), torch.tensor([True] * 3))
    perm = torch.randperm(edge.shape[1], generator=torch.Generator().manual_seed(0))
    assert is_mirror_ordered(edge, shifts) and not is_mirror_ordered(edge[:, perm], shifts[perm])
    assert not is_mirror_ordered(edge[:, :-1], shifts[:-1])
    bad = shifts.clone()
    bad[-1, 0] += 1.0  # right atoms, wrong image
    assert not is_mirror_ordered(edge, bad)
    artifact = ArtifactModule(model)
    ref = artifact(pos_t, torch.as_tensor(z), edge, shifts, len(z))
    out = artifact(pos_t, torch.as_tensor(z), edge[:, perm], shifts[perm], len(z))
    for key in ("energy", "atom_energies", "forces", "virial", "atom_virial"):
        torch.testing.assert_close(out[key], ref[key], rtol=1e-10, atol=1e-10)

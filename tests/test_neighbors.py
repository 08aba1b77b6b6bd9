"""Neighbour lists equal ASE's on random periodic, triclinic and small cells."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list as ase_neighbor_list

from zoo.errors import ModelError
from zoo.neighbors import neighbor_list


def _canonical(i, j, vec):
    return sorted(zip(i.tolist(), j.tolist(), np.round(vec, 6).tolist(), strict=True))


@pytest.mark.parametrize("seed", range(40))
def test_equals_ase_on_random_cells(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 25))
    cell = rng.normal(size=(3, 3)) * rng.uniform(0.5, 4) + np.eye(3) * rng.uniform(1.5, 7)
    pbc = rng.random(3) < 0.7
    pos = rng.random((n, 3)) @ cell + rng.normal(size=(n, 3)) * 0.5  # some atoms outside the cell
    cutoff = float(rng.uniform(1.0, 5.0))
    atoms = Atoms(numbers=[1] * n, positions=pos, cell=cell, pbc=pbc)
    i, j, d = ase_neighbor_list("ijD", atoms, cutoff)
    edge, shifts = neighbor_list(torch.tensor(pos), cutoff, torch.tensor(cell), torch.tensor(pbc))
    vec = (torch.tensor(pos)[edge[1]] - torch.tensor(pos)[edge[0]] + shifts).numpy()
    assert _canonical(edge[0], edge[1], vec) == _canonical(i, j, d)


def test_cell_smaller_than_cutoff_has_many_images() -> None:
    atoms = Atoms("H", positions=[[0, 0, 0]], cell=np.diag([1.5, 1.7, 2.0]), pbc=True)
    edge, shifts = neighbor_list(
        torch.tensor(atoms.positions), 4.0, torch.tensor(atoms.cell[:]), torch.tensor([True] * 3)
    )
    i, _ = ase_neighbor_list("ij", atoms, 4.0)
    assert edge.shape[1] == len(i) > 50
    assert (edge == 0).all()  # every pair is an image of the same atom


def test_batched_molecules_stay_separate() -> None:
    pos = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [0.5, 0, 0], [0.0, 0.9, 0]], dtype=torch.float64)
    idx_m = torch.tensor([0, 0, 1, 1])
    edge, _ = neighbor_list(pos, 5.0, idx_m=idx_m, n_atoms=torch.tensor([2, 2]))
    assert sorted(map(tuple, edge.T.tolist())) == [(0, 1), (1, 0), (2, 3), (3, 2)]


def test_bad_input() -> None:
    pos = torch.zeros(2, 3)
    with pytest.raises(ModelError, match="cutoff must be positive"):
        neighbor_list(pos, 0.0)
    pos[1, 0] = float("nan")
    with pytest.raises(ModelError, match="NaN"):
        neighbor_list(pos, 3.0)


def test_lists_are_mirror_ordered() -> None:
    """Pair p + P/2 is pair p seen from the other atom (SchNet relies on it to halve filter work)."""
    rng = np.random.default_rng(7)
    cell = np.eye(3) * 3.0 + rng.normal(size=(3, 3)) * 0.3
    pos = torch.tensor(rng.random((10, 3)) @ cell)
    for pbc in ([True] * 3, [True, False, True], [False] * 3):
        edge, shifts = neighbor_list(pos, 4.0, torch.tensor(cell), torch.tensor(pbc))
        half = edge.shape[1] // 2
        assert edge.shape[1] == 2 * half
        assert torch.equal(edge[:, half:], edge[:, :half].flip(0))
        assert torch.equal(shifts[half:], -shifts[:half])


def test_mirrored_schnet_equals_plain() -> None:
    from zoo.model import build_model, default_config

    torch.manual_seed(0)
    model = build_model(default_config("schnet", [1, 8], ["energy", "forces"], 3.0)).double()
    pos = torch.tensor(np.random.default_rng(1).random((12, 3)) * 4.0)
    z = torch.tensor([8, 1, 1] * 4)
    edge, shifts = neighbor_list(pos, 3.0, torch.eye(3, dtype=torch.float64) * 4.0, torch.tensor([True] * 3))
    args = (z, pos, edge, shifts, torch.zeros(12, dtype=torch.long), 1, torch.ones(12, dtype=torch.float64))
    a = model(*args, True, True, False, False)
    b = model(*args, True, True, False, True)
    for key in ("energy", "forces", "virial"):
        torch.testing.assert_close(a[key], b[key], rtol=1e-12, atol=1e-12)

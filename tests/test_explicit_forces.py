"""SchNet artifacts compute forces by the backward pass written out (zoo.explicit_forces): the same
outputs as autograd on the same frozen model, with filter networks or tables, for every pair order,
ghosts, cells and head."""

from __future__ import annotations

import pytest
import torch

import zoo.ops
from zoo.export.torchscript import frozen_copy, script_frozen
from zoo.model import build_model, default_config
from zoo.neighbors import neighbor_list


def _model(properties: list[str], aggregation: str = "sum", n_layers: int = 2):
    cfg = default_config("schnet", [1, 6, 8], properties)
    cfg["representation"].update(n_atom_basis=16, n_interactions=3)
    cfg["head"].update(aggregation=aggregation, n_layers=n_layers)
    torch.manual_seed(3)
    model = build_model(cfg)
    with torch.no_grad():  # trained-like magnitudes, and head statistics that are not the identity
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
        head = model.heads[model.energy_key]
        head.std.fill_(1.7)
        head.mean.fill_(-0.4)
        head.atomref[torch.tensor([1, 6, 8])] = torch.tensor([[-0.5], [-37.8], [-75.0]])
    return model


def _both(model, table: int, dtype: str = "float64"):
    """(explicit, autograd): the TorchScript artifact module of one frozen copy (filter tables on
    ``table`` intervals, or networks for 0), both ways."""
    assert zoo.ops.load_kernels()
    frozen = frozen_copy(model, dtype, filter_table=table)
    assert frozen.explicit.ready and frozen.explicit.tabulated == (table > 0)
    explicit = script_frozen(frozen)
    frozen.explicit.ready = False
    return explicit, script_frozen(frozen)


def _molecule(n: int = 11, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(n, 3, generator=g, dtype=torch.float64) * 1.3
    pos = pos + 0.4 * torch.arange(n, dtype=torch.float64)[:, None]  # no two atoms too close
    numbers = torch.tensor([(1, 6, 8)[k % 3] for k in range(n)])
    return pos, numbers


def _assert_same(a: dict, b: dict, tol: float = 1e-12) -> None:
    assert a.keys() == b.keys()
    for key in a:
        scale = max(float(b[key].detach().abs().max()), 1.0)
        assert float((a[key] - b[key].detach()).abs().max()) <= tol * scale, key
        assert not a[key].requires_grad, key  # no autograd graph was recorded


@pytest.mark.parametrize("table", [0, 64])
@pytest.mark.parametrize(
    ("properties", "aggregation", "n_layers"),
    [(["energy", "forces"], "sum", 2), (["energy", "forces", "dipole"], "mean", 3)],
)
def test_explicit_forces_equal_autograd(
    properties: list[str], aggregation: str, n_layers: int, table: int
) -> None:
    explicit, autograd = _both(_model(properties, aggregation, n_layers), table)
    pos, numbers = _molecule()
    ei, sh = neighbor_list(pos, 5.0)  # mirror-ordered: the filters of half the pairs
    n = len(numbers)
    _assert_same(explicit(pos, numbers, ei, sh, n), autograd(pos, numbers, ei, sh, n))
    _assert_same(
        explicit.forward_unchecked(pos, numbers, ei, sh), autograd.forward_unchecked(pos, numbers, ei, sh)
    )
    # any other order (a LAMMPS list), with the last three atoms ghosts: pair by pair, weights 0 for ghosts
    perm = torch.randperm(ei.shape[1], generator=torch.Generator().manual_seed(1))
    _assert_same(
        explicit(pos, numbers, ei[:, perm], sh[perm], n - 3),
        autograd(pos, numbers, ei[:, perm], sh[perm], n - 3),
    )


@pytest.mark.parametrize("table", [0, 64])
def test_explicit_forces_in_a_periodic_cell(table: int) -> None:
    """Pairs through the cell faces (shifts), virial and per-atom virial; float32 to its rounding."""
    model = _model(["energy", "forces"])
    pos, numbers = _molecule(n=24, seed=2)
    cell = torch.eye(3, dtype=torch.float64) * 6.5
    ei, sh = neighbor_list(pos, 5.0, cell, torch.tensor([True, True, True]))
    assert bool((sh != 0).any())
    explicit, autograd = _both(model, table)
    _assert_same(explicit(pos, numbers, ei, sh, 24), autograd(pos, numbers, ei, sh, 24))
    explicit, autograd = _both(model, table, "float32")
    args = (pos.float(), numbers, ei, sh.float(), 24)
    _assert_same(explicit(*args), autograd(*args), tol=2e-5)


def test_which_artifacts_take_the_explicit_pass() -> None:
    """SchNet artifacts hold no autograd call (aten::grad) and, without tables, no zoo operator: the
    unused branches are gone after freezing. ACSF artifacts keep autograd."""
    graphs = {}
    for table in (0, 16):
        frozen = frozen_copy(_model(["energy", "forces"]), "float64", filter_table=table)
        graphs[table] = str(script_frozen(frozen).graph)
        frozen.explicit.ready = False
        assert "aten::grad" in str(script_frozen(frozen).graph)  # what the check below would see
    assert "aten::grad" not in graphs[0] and "zoo::" not in graphs[0]
    assert "aten::grad" not in graphs[16] and "zoo::cfconv_tab_backward" in graphs[16]
    acsf_cfg = default_config("acsf", [1, 8], ["energy", "forces"])
    acsf = frozen_copy(build_model(acsf_cfg), "float64")
    assert not acsf.explicit.ready
    graph = str(script_frozen(acsf).graph)
    assert "aten::grad" in graph and "zoo::" not in graph


@pytest.mark.parametrize("kind", ["schnet", "schnet-table", "acsf"])
def test_artifact_compute_modes_agree(tmp_path, kind: str) -> None:
    """zoo.export.Artifact runs grad-free graphs (SchNet) in inference mode, and with ``checked=True``
    (the calculator's own checks made) skips the artifact's checks (forward_unchecked) for a
    mirror-ordered list of local atoms: the same numbers as forward with autograd enabled. ACSF keeps
    autograd; a list in another order or with ghosts goes through forward."""
    from zoo.export import export_model, load_artifact

    cfg = default_config(kind.split("-")[0], [1, 6, 8], ["energy", "forces"])
    if kind != "acsf":
        cfg["representation"].update(n_atom_basis=16, n_interactions=3)
    torch.manual_seed(0)
    path = tmp_path / "m.pt"
    export_model(build_model(cfg), cfg, path, dtype="float64", filter_table=64 if "table" in kind else 0)
    art = load_artifact(path)
    assert art.grad_free == (kind != "acsf") and art.has_unchecked
    pos, numbers = _molecule(n=14, seed=4)
    ei, sh = neighbor_list(pos, 5.0)
    args = (pos.numpy(), numbers.numpy(), ei.numpy(), sh.numpy())
    with torch.enable_grad():  # reference: the artifact's forward as before, autograd on
        ref = art.module(*(torch.from_numpy(a) for a in args), 14)
    perm = torch.randperm(ei.shape[1], generator=torch.Generator().manual_seed(1)).numpy()
    calls = {
        "plain": art.compute(*args),
        "checked": art.compute(*args, checked=True),
        "checked, shuffled": art.compute(args[0], args[1], args[2][:, perm], args[3][perm], checked=True),
    }
    for name, out in calls.items():
        for key in ("energy", "forces", "virial", "atom_energies"):
            want = ref[key].detach().numpy()
            assert abs(out[key] - want).max() <= 1e-12 * max(1.0, abs(want).max()), (name, key)
    ghosts = art.compute(*args, n_local=10, checked=True)  # forward: per-atom weights
    assert abs(float(ghosts["energy"]) - float(ref["atom_energies"][:10].sum())) < 1e-10


def test_old_artifacts_keep_autograd(repo_root) -> None:
    """Artifacts exported before the explicit pass differentiate with autograd: no inference mode."""
    from zoo.export import load_artifact

    old = load_artifact(repo_root / "export" / "golden" / "schnet_molecule_float64.pt")
    assert not old.grad_free and not old.has_unchecked

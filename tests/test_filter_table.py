"""Tabulated SchNet filters (export/SPEC.md "Filter tables"): the operator zoo::cfconv_tab and its fused
CPU kernels against the reference formula, the tables' accuracy, and artifacts that use them."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import water_frame

import zoo.ops
from zoo.errors import ArtifactError, ModelError
from zoo.export import export_model, load_artifact, read_metadata
from zoo.export.metadata import build_metadata
from zoo.export.torchscript import save_torchscript, script_artifact
from zoo.model import build_model, default_config
from zoo.ops import CfconvTab, cfconv_tab_reference

CUTOFF = 3.0


def _case(dtype: torch.dtype, n_atoms: int = 9, n_pairs: int = 80, n_feat: int = 7, seed: int = 0):
    """Random features, distances (some beyond the cutoff, some on table nodes), pairs and a table."""
    g = torch.Generator().manual_seed(seed)
    intervals = 24
    h = torch.randn(n_atoms, n_feat, generator=g, dtype=torch.float64)
    r = torch.rand(n_pairs, generator=g, dtype=torch.float64) * 1.2 * CUTOFF
    r[:4] = torch.tensor([0.5, 1.0, CUTOFF, CUTOFF * 1.01])  # nodes, the cutoff itself, beyond
    idx_i = torch.randint(0, n_atoms, (n_pairs,), generator=g)
    idx_j = torch.randint(0, n_atoms, (n_pairs,), generator=g)
    table = torch.randn(intervals, 4, n_feat, generator=g, dtype=torch.float64)
    return h.to(dtype), r.to(dtype), idx_i, idx_j, table.to(dtype), CUTOFF / intervals


def _grads(fn, h: torch.Tensor, r: torch.Tensor, weight: torch.Tensor):
    h, r = h.clone().requires_grad_(True), r.clone().requires_grad_(True)
    out = fn(h, r)
    gh, gr = torch.autograd.grad((out * weight).sum(), (h, r))
    return out.detach(), gh, gr


@pytest.mark.parametrize("symmetric", [True, False])
def test_operator_gradients_are_exact(symmetric: bool) -> None:
    """torch.autograd.gradcheck of the operator (whichever CPU kernel is registered) and of the
    autograd.Function the traced encodings use, in float64."""
    h, r, idx_i, idx_j, table, step = _case(torch.float64)
    ok = r.clone()
    ok[:4] = torch.tensor([0.55, 1.05, 2.9, 3.2])  # gradcheck's finite differences must not straddle a node
    h, ok = h.requires_grad_(True), ok.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a, b: torch.ops.zoo.cfconv_tab(a, b, idx_i, idx_j, table, step, CUTOFF, symmetric), (h, ok)
    )
    assert torch.autograd.gradcheck(
        lambda a, b: CfconvTab.apply(a, b, idx_i, idx_j, table, step, CUTOFF, symmetric), (h, ok)
    )


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("symmetric", [True, False])
def test_fused_kernels_match_reference(symmetric: bool, dtype: torch.dtype, threads: int) -> None:
    """The C++ kernels (zoo/csrc/cfconv_tab.cpp, built here on first use) give the reference formula's
    values and gradients; 2 threads split the pairs (> 4096 per thread) into per-thread sums."""
    assert zoo.ops.load_kernels(), "the fused kernels did not build (g++ and ninja are test requirements)"
    n_pairs = 10_000 if threads > 1 else 300
    h, r, idx_i, idx_j, table, step = _case(dtype, n_atoms=40, n_pairs=n_pairs, n_feat=37)
    weight = torch.randn(h.shape, dtype=dtype, generator=torch.Generator().manual_seed(3))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = _grads(
            lambda a, b: torch.ops.zoo.cfconv_tab(a, b, idx_i, idx_j, table, step, CUTOFF, symmetric),
            h,
            r,
            weight,
        )
    finally:
        torch.set_num_threads(before)
    want = _grads(
        lambda a, b: cfconv_tab_reference(a, b, idx_i, idx_j, table, step, CUTOFF, symmetric), h, r, weight
    )
    rtol = 1e-12 if dtype == torch.float64 else 2e-5
    for a, b, name in zip(got, want, ("output", "grad h", "grad r"), strict=True):
        scale = float(b.abs().max())
        assert float((a - b).abs().max()) <= rtol * scale, name
    assert float(got[2][r >= CUTOFF].abs().max()) == 0.0  # nothing from pairs at or beyond the cutoff


def _schnet(dtype: torch.dtype = torch.float64, cutoff: float = 4.0):
    cfg = default_config("schnet", [1, 8], ["energy", "forces"])
    cfg["representation"].update(n_atom_basis=32, n_interactions=3)
    cfg["cutoff"] = cutoff
    torch.manual_seed(11)
    model = build_model(cfg)
    with torch.no_grad():  # trained-like filter magnitudes
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return model.to(dtype), cfg


def test_table_error_falls_as_step_to_the_fourth() -> None:
    model, _ = _schnet()
    rep = copy.deepcopy(model.representation)
    coarse = rep.tabulate_filters(128)["max_abs_error"]
    fine = rep.tabulate_filters(512)
    assert 64 < coarse / fine["max_abs_error"] < 1024  # 4x smaller step: ~256x smaller error
    assert fine["max_abs_error"] < 1e-7 * fine["max_abs_filter"]
    assert fine["max_abs_slope_error"] < 1e-4 * fine["max_abs_filter"]
    with pytest.raises(ModelError, match="at least 2 intervals"):
        rep.tabulate_filters(1)


def _water(shared_data: Path):
    from ase import Atoms

    coord, z, box = water_frame(shared_data)
    return Atoms(numbers=z, positions=coord, cell=box, pbc=True)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_tabulated_artifact_matches_the_network(tmp_path: Path, shared_data: Path, dtype: str) -> None:
    """ASE on a periodic water frame: the tabulated artifact gives the network's energy, forces and stress
    (float64: to 1e-7 relative; float32: to float32 rounding)."""
    from zoo.ase import ZooCalculator

    model, cfg = _schnet()
    export_model(model, cfg, tmp_path / "net.pt", dtype=dtype)
    meta = export_model(model, cfg, tmp_path / "table.pt", dtype=dtype, filter_table=512)
    assert meta["format_version"] == "1.1" and meta["operators"] == ["zoo::cfconv_tab"]
    assert meta["filter_table"]["intervals"] == 512 and meta["filter_table"]["step"] == pytest.approx(
        4.0 / 512
    )
    assert read_metadata(tmp_path / "table.pt")["filter_table"] == meta["filter_table"]
    out = {}
    for name in ("net", "table"):
        atoms = _water(shared_data)
        atoms.calc = ZooCalculator(tmp_path / f"{name}.pt")
        out[name] = (atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress())
    # 512 intervals: filters within ~1e-8, their slopes within ~1e-6 (relative), and so the forces
    rtol = 1e-5 if dtype == "float64" else 5e-5
    (e0, f0, s0), (e1, f1, s1) = out["net"], out["table"]
    assert abs(e1 - e0) <= 1e-2 * rtol * abs(e0)
    assert np.abs(f1 - f0).max() <= rtol * np.abs(f0).max()
    assert np.abs(s1 - s0).max() <= rtol * np.abs(s0).max()


def test_refused_where_tables_do_not_apply(tmp_path: Path) -> None:
    model, cfg = _schnet()
    with pytest.raises(ArtifactError, match="ONNX Runtime does not have"):
        export_model(model, cfg, tmp_path / "m.onnx", fmt="onnx", filter_table=512)
    acsf_cfg = default_config("acsf", [1, 8], ["energy", "forces"])
    with pytest.raises(ArtifactError, match="filter tables are for SchNet"):
        export_model(build_model(acsf_cfg), acsf_cfg, tmp_path / "a.pt", filter_table=512)
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "a.pt").exists()


def test_artifact_needing_an_unknown_operator_is_refused(tmp_path: Path) -> None:
    """A reader refuses a file whose "operators" it does not provide, naming the operator and the zoo
    that wrote it (instead of TorchScript's "unknown builtin op")."""
    model, cfg = _schnet()
    meta = build_metadata(model, cfg, "float64", "torchscript")
    meta.update(format_version="1.1", operators=["zoo::from_the_future"], zoo_version="9.0.0")
    save_torchscript(script_artifact(model, "float64"), tmp_path / "future.pt", meta)
    with pytest.raises(ArtifactError, match=r"needs the operator zoo::from_the_future.*zoo 9\.0\.0"):
        load_artifact(tmp_path / "future.pt")


def test_python_and_cpp_define_one_schema(repo_root: Path) -> None:
    """Artifacts name the operator by its schema: Python's definition (inferred from the reference
    functions) and the C++ runtime's (zoo/csrc/cfconv_tab.cpp) must be the same text."""
    source = (repo_root / "zoo" / "csrc" / "cfconv_tab.cpp").read_text()
    cpp = [
        "".join(source.split(f"constexpr const char* {name} =")[1].split(";")[0].split('"')[1::2])
        for name in ("kSchema", "kBackwardSchema")
    ]
    python = [
        str(torch.ops.zoo.cfconv_tab.default._schema),
        str(torch.ops.zoo.cfconv_tab_backward.default._schema),
    ]
    assert (
        [f"zoo::{s}" for s in cpp] == python == [f"zoo::{zoo.ops.SCHEMA}", f"zoo::{zoo.ops.BACKWARD_SCHEMA}"]
    )


def test_second_derivatives_are_refused() -> None:
    """The fused operator defines first derivatives only: a graph of its backward (create_graph=True,
    e.g. a Hessian) raises instead of silently missing terms (the C++ autograd, as TorchScript runs it)."""
    from zoo.export.torchscript import frozen_copy

    assert zoo.ops.load_kernels()
    model, _ = _schnet()
    rep = torch.jit.script(frozen_copy(model, "float64", filter_table=64).representation)
    pos = torch.tensor([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]], dtype=torch.float64)
    ei = torch.tensor([[0, 0, 1, 1, 2, 2], [1, 2, 0, 2, 0, 1]])
    vectors = (pos[ei[1]] - pos[ei[0]]).requires_grad_(True)
    x = rep(torch.tensor([8, 1, 1]), vectors, ei[0], ei[1], False)
    (g,) = torch.autograd.grad(x.sum(), vectors, retain_graph=True)  # first derivatives: fine
    assert torch.isfinite(g).all() and g.abs().max() > 0
    with pytest.raises(RuntimeError, match="second derivatives"):
        torch.autograd.grad(x.sum(), vectors, create_graph=True)

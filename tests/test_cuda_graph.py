"""zoo.cuda_graph: what a CUDA graph replays equals the artifact, checked on the CPU (the graph's function
and padding) and, where a GPU is present, through the calculator (benchmarks/gpu_check.py does more)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import water_frame

from zoo.cuda_graph import PAD, GraphRunner, pad_pairs
from zoo.export import export_model, load_artifact
from zoo.model import build_model, default_config, is_mirror_ordered
from zoo.neighbors import neighbor_list


def _water(shared_data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    coord, z, box = water_frame(shared_data)
    return coord.astype(np.float64), z, box  # stored float32; the float64 artifacts get float64 inputs


def _artifact(tmp_path: Path, heads: list[str], table: int = 0):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    config = default_config("schnet", [1, 8], heads, 4.0)
    config["representation"].update(n_atom_basis=16, n_interactions=2, n_rbf=12)
    path = tmp_path / f"schnet_{table}.pt"
    export_model(build_model(config), config, path, dtype="float64", filter_table=table)
    return load_artifact(path)


CASES = [(["energy", "forces"], 0), (["energy", "forces", "dipole"], 64)]


@pytest.mark.parametrize(("heads", "table"), CASES)
def test_graph_function_equals_the_artifact(
    tmp_path: Path, shared_data: Path, heads: list[str], table: int
) -> None:
    """The artifact's forward_unchecked on the padded skin list (what a CUDA graph holds) gives what its
    forward gives on the pairs inside the cutoff: energy, per-atom energies, forces, virial (and dipole),
    float64, with and without filter tables."""
    art = _artifact(tmp_path, heads, table)
    pos, z, box = _water(shared_data)
    pbc = torch.ones(3, dtype=torch.bool)
    ei, sh = neighbor_list(torch.from_numpy(pos), art.cutoff + 0.5, torch.from_numpy(box), pbc)
    assert is_mirror_ordered(ei, sh)  # zoo.neighbors' order, which the graphs take as given
    ei_np, sh_np = ei.numpy(), sh.numpy()
    v = pos[ei_np[1]] - pos[ei_np[0]] + sh_np
    inside = (v**2).sum(1) < art.cutoff**2
    assert not inside.all()  # the skin list holds pairs beyond the cutoff: they must contribute nothing
    want = art.compute(pos, z, ei_np[:, inside], sh_np[inside])
    pei, psh = pad_pairs(ei_np, sh_np, 2 * art.cutoff + 2)
    got = art.module.forward_unchecked(
        torch.from_numpy(pos), torch.from_numpy(z), torch.from_numpy(pei), torch.from_numpy(psh)
    )
    for key in ("energy", "atom_energies", "forces", "virial", *(["dipole"] if "dipole" in heads else [])):
        g = got[key].detach().numpy()
        assert g.shape == want[key].shape, key
        np.testing.assert_allclose(g, want[key], rtol=1e-10, atol=1e-10, err_msg=key)


def test_padding_keeps_mirror_order() -> None:
    ei, sh = neighbor_list(torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [0, 1.5, 0]], dtype=torch.float64), 3.0)
    assert is_mirror_ordered(ei, sh)
    for e, s in ((ei.numpy(), sh.numpy()), (np.zeros((2, 0), dtype=np.int64), np.zeros((0, 3)))):
        pei, psh = pad_pairs(e, s, 10.0)
        assert pei.shape[1] % (2 * PAD) == 0 and pei.shape[1] > 0 and psh.shape == (pei.shape[1], 3)
        assert is_mirror_ordered(torch.from_numpy(pei), torch.from_numpy(psh))
        far = np.linalg.norm(psh[e.shape[1] // 2 : pei.shape[1] // 2], axis=1)
        assert (far == 10.0).all()


class _ReplayOnCPU(GraphRunner):
    """A GraphRunner whose "graph" calls forward_unchecked on its static inputs, on the CPU: what `run`
    and the calculator do around the capture (padding, one copy of the list per build, keys) is then
    testable without a GPU."""

    def _capture(self, key: tuple[int, int]) -> dict:
        n, p = key
        inputs = {
            "positions": torch.zeros(n, 3, dtype=self.dtype),
            "numbers": torch.zeros(n, dtype=torch.long),
            "edge_index": torch.zeros(2, p, dtype=torch.long),
            "shifts": torch.zeros(p, 3, dtype=self.dtype),
        }
        outputs: dict = {}
        module = self.module

        class Replay:
            def replay(self) -> None:
                outputs.update(module.forward_unchecked(*inputs.values()))

        self.captures += 1
        self._graphs[key] = {"graph": Replay(), "inputs": inputs, "outputs": outputs}
        return self._graphs[key]


def test_calculator_graph_path_on_cpu(tmp_path: Path, shared_data: Path) -> None:
    """The calculator's graph path (whole skin list, padded, copied once per neighbour-list build) gives
    the plain path's forces along displaced frames that rebuild the list, float64."""
    from ase import Atoms

    from zoo.ase import ZooCalculator

    art = _artifact(tmp_path, ["energy", "forces"])
    pos, z, box = _water(shared_data)
    steps = np.random.default_rng(0).normal(scale=0.03, size=(20, *pos.shape))
    runs = {}
    for graphs in (True, False):
        atoms = Atoms(numbers=z, positions=pos, cell=box, pbc=True)
        atoms.calc = calc = ZooCalculator(art.path)
        if graphs:
            reach = 2 * (calc.cutoff + calc.skin) + 1.0
            calc.graphs = runner = _ReplayOnCPU(art.module, "cpu", torch.float64, reach, 1)
        forces = []
        for step in steps:
            atoms.positions += step
            forces.append(atoms.get_forces())
        runs[graphs] = np.array(forces)
    assert calc.n_neighbor_builds > 2 and calc.graphs is None
    assert 1 <= runner.captures < calc.n_neighbor_builds  # a rebuild of the same padded length reuses one
    np.testing.assert_allclose(runs[True], runs[False], rtol=0, atol=1e-10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_calculator_replays_one_graph(tmp_path: Path, shared_data: Path) -> None:
    from ase import Atoms

    from zoo.ase import ZooCalculator

    art = _artifact(tmp_path, ["energy", "forces"])
    pos, z, box = _water(shared_data)
    forces, calcs = {}, {}
    for graphs in (True, False):
        atoms = Atoms(numbers=z, positions=pos, cell=box, pbc=True)
        atoms.calc = calcs[graphs] = ZooCalculator(art.path, device="cuda", cuda_graphs=graphs)
        for k in range(3):
            atoms.positions[k] += 0.01
            forces[graphs, k] = atoms.get_forces()
    assert calcs[True].graphs is not None and calcs[True].graphs.captures == 1  # no rebuild: one graph
    assert calcs[False].graphs is None
    for k in range(3):
        np.testing.assert_allclose(forces[True, k], forces[False, k], atol=1e-9)


def test_graphs_refused_where_they_cannot_run(tmp_path: Path, repo_root: Path) -> None:
    """cuda_graphs=True needs a CUDA device and an artifact with forward_unchecked: one sentence each."""
    from zoo.ase import ZooCalculator
    from zoo.errors import ModelError

    art = _artifact(tmp_path, ["energy", "forces"])
    with pytest.raises(ModelError, match="CUDA graphs need .* on a CUDA device"):
        ZooCalculator(art.path, device="cpu", cuda_graphs=True)
    old = repo_root / "export" / "golden" / "schnet_molecule_float32.pt"  # exported before forward_unchecked
    assert not hasattr(load_artifact(old).module, "forward_unchecked")
    assert hasattr(art.module, "forward_unchecked")


def test_graphs_automatic_only_where_they_can_run(tmp_path: Path, repo_root: Path) -> None:
    """By default (cuda_graphs=None) the calculator replays graphs on a CUDA device for artifacts whose
    graph reads no values back (SchNet), and runs the plain path for ACSF (triplets, element-wise
    heads), for artifacts exported before forward_unchecked, and on the CPU, without a warning."""
    import warnings

    from zoo.ase import ZooCalculator, graphs_capturable
    from zoo.cuda_graph import value_dependent_ops

    schnet = _artifact(tmp_path, ["energy", "forces"])
    assert graphs_capturable(schnet, "cuda") and graphs_capturable(schnet, "cuda:1")
    assert not graphs_capturable(schnet, "cpu")
    assert value_dependent_ops(schnet.module) == []
    config = default_config("acsf", [1, 8], ["energy", "forces"], 4.0)
    export_model(build_model(config), config, tmp_path / "acsf.pt", dtype="float64")
    acsf = load_artifact(tmp_path / "acsf.pt")
    assert graphs_capturable(acsf, "cuda") and "aten::nonzero" in value_dependent_ops(acsf.module)
    old = load_artifact(repo_root / "export" / "golden" / "schnet_molecule_float32.pt")
    assert not graphs_capturable(old, "cuda")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert ZooCalculator(schnet.path).graphs is None  # CPU: plain path, quietly
    assert not [w for w in seen if "CUDA graphs" in str(w.message)]

"""ASE calculator for exported zoo artifacts (TorchScript .pt, ONNX .onnx, AOTInductor .pt2).

    from zoo.ase import ZooCalculator
    atoms.calc = ZooCalculator("model.pt")            # or "model.onnx" / "model.pt2"; device="cuda" (.pt)
    atoms.get_potential_energy(); atoms.get_forces(); atoms.get_stress()

Neighbour pairs come from ``zoo.neighbors`` with a Verlet skin: pairs are built with cutoff + skin and
rebuilt only when an atom moved more than skin/2 since the last build, or the cell, pbc, numbers or atom
count changed. Extra pairs beyond the cutoff contribute exactly zero (export/SPEC.md), so the skin changes
no number.

For CPU models the calculator switches the process to keeping freed memory for reuse
(``zoo.memory.reuse_freed_memory``: large per-call tensors are then not page-faulted in on every call;
1.3-1.6x on a 1,536-atom water box); ``reuse_memory=False`` leaves the C library's default.

On a GPU a SchNet `.pt` is replayed as a CUDA graph (``zoo.cuda_graph``) unless ``cuda_graphs=False``:
the model then sees the whole skin list, whose length holds between rebuilds, instead of only the pairs
inside the cutoff, and one graph serves every call until the list's padded length changes. Checked on
an H200 (benchmarks/gpu_check.py, docs/RESULTS.md "GPU"): the same forces as without graphs (4e-17 eV/Å
in float64), and a malonaldehyde MD step of 0.85 instead of 3.5 ms. ``cuda_graphs=None`` (the default)
uses graphs where they can run (a CUDA device, a TorchScript artifact with ``forward_unchecked`` whose
graph holds no operator that reads values back, as SchNet's) and otherwise, or if the capture fails, the
plain path; ``True`` insists (an error where they cannot run, a warning if the capture fails).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import ase.data
import numpy as np
import torch
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from zoo.errors import ModelError
from zoo.export import Artifact, load_artifact
from zoo.memory import reuse_freed_memory
from zoo.neighbors import neighbor_list

MIN_DISTANCE = 0.1  # Å, as zoo.model.AtomisticModel


_ARRAY_CHANGES = [p for p in all_changes if p not in ("cell", "pbc")]


def _close(a: Any, b: Any, tol: float) -> bool:
    """``ase.calculators.calculator.equal(a, b, atol=tol)``: same shape and |a - b| <= tol everywhere
    (NaN never close), with an exact-equality shortcut."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if np.array_equal(a, b):
        return True
    if a.dtype == bool or b.dtype == bool:
        return False
    return bool((np.abs(a - b) <= tol).all())


def system_changes(old: Any, new: Any, tol: float = 1e-15) -> list[str]:
    """What ``ase.calculators.calculator.compare_atoms(old, new, tol)`` reports as changed."""
    changes = [p for p in ("cell", "pbc") if not _close(getattr(old, p), getattr(new, p), tol)]
    for prop in _ARRAY_CHANGES:
        a, b = old.arrays.get(prop), new.arrays.get(prop)
        if (a is None) != (b is None) or (a is not None and not _close(a, b, tol)):
            changes.append(prop)
    return changes


def graphs_capturable(artifact: Artifact, device: str) -> bool:
    """Whether CUDA graphs can run this artifact here: a CUDA device and a TorchScript artifact with
    ``forward_unchecked`` (exported since CUDA graphs came; export/SPEC.md)."""
    return device.startswith("cuda") and artifact.has_unchecked


class ZooCalculator(Calculator):
    """Energy, per-atom energies, forces, stress (periodic) and dipole (if exported) from a zoo artifact."""

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(
        self,
        path: str | Path,
        device: str = "cpu",
        skin: float = 0.5,
        reuse_memory: bool = True,
        cuda_graphs: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if skin < 0:
            raise ModelError(f"the neighbour-list skin must be >= 0, got {skin}")
        self.artifact: Artifact = load_artifact(path, device=device)
        if reuse_memory and device == "cpu":
            reuse_freed_memory()
        self.metadata = self.artifact.metadata
        self.cutoff = self.artifact.cutoff
        self.skin = float(skin)
        self.device = device
        self.species = set(self.artifact.species)
        self._known_z = np.zeros(max(self.species) + 1, dtype=bool)
        self._known_z[sorted(self.species)] = True
        self.implemented_properties = list(ZooCalculator.implemented_properties)
        if "dipole" in self.artifact.outputs:
            self.implemented_properties.append("dipole")
        self._nl: dict[str, Any] | None = None
        self.n_neighbor_builds = 0
        self.graphs: Any = None  # zoo.cuda_graph.GraphRunner while CUDA graphs are in use
        self._graphs_asked = bool(cuda_graphs)
        if cuda_graphs is None:  # automatic: where the graph holds no operator that reads values back
            from zoo.cuda_graph import value_dependent_ops

            capturable = graphs_capturable(self.artifact, device)
            cuda_graphs = capturable and not value_dependent_ops(self.artifact.module)
        if cuda_graphs:
            if not graphs_capturable(self.artifact, device):
                raise ModelError(
                    f"CUDA graphs need a TorchScript (.pt) artifact on a CUDA device, exported by a zoo that "
                    f"writes forward_unchecked (export/SPEC.md); {path} on {device} is not one: re-export it"
                )
            from zoo.cuda_graph import GraphRunner

            dtype = torch.float64 if self.artifact.dtype == "float64" else torch.float32
            reach = 2 * (self.cutoff + self.skin) + 1.0  # padding pairs: far beyond the cutoff
            self.graphs = GraphRunner(self.artifact.module, device, dtype, reach, min(self.species))

    # -- neighbour list with skin ---------------------------------------------------------------
    def _pairs(self, positions: np.ndarray, numbers: np.ndarray, cell: np.ndarray, pbc: np.ndarray):
        nl = self._nl
        if (
            nl is not None
            and nl["positions"].shape == positions.shape
            and np.array_equal(nl["numbers"], numbers)
            and np.array_equal(nl["cell"], cell)
            and np.array_equal(nl["pbc"], pbc)
        ):
            moved = np.sqrt(((positions - nl["positions"]) ** 2).sum(1)).max() if len(positions) else 0.0
            if moved <= 0.5 * self.skin:
                return nl["edge_index"], nl["shifts"]
        pos_t = torch.from_numpy(np.ascontiguousarray(positions, dtype=np.float64))
        if pbc.any():
            ei, sh = neighbor_list(
                pos_t, self.cutoff + self.skin, torch.from_numpy(cell), torch.from_numpy(pbc)
            )
        else:
            ei, sh = neighbor_list(pos_t, self.cutoff + self.skin)
        # zoo.neighbors lists are mirror-ordered (zoo/neighbors.py); the CUDA graphs rely on it
        self._nl = {
            "positions": positions.copy(),
            "numbers": numbers.copy(),
            "cell": cell.copy(),
            "pbc": pbc.copy(),
            "edge_index": ei.numpy(),
            "shifts": sh.numpy(),
        }
        self.n_neighbor_builds += 1
        return self._nl["edge_index"], self._nl["shifts"]

    # -- input checks (the ONNX graph has none; TorchScript repeats them) ---------------------------
    def _check(self, positions: np.ndarray, numbers: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> None:
        ok = np.zeros(len(numbers), dtype=bool)  # a lookup table: np.isin costs more on molecules
        in_table = (numbers >= 0) & (numbers < len(self._known_z))
        ok[in_table] = self._known_z[numbers[in_table]]
        bad = numbers[~ok]
        if len(bad):
            z = int(bad[0])
            sym = ase.data.chemical_symbols[z] if 0 < z < len(ase.data.chemical_symbols) else str(z)
            known = ", ".join(ase.data.chemical_symbols[s] for s in sorted(self.species))
            raise ModelError(f"element {sym} (Z={z}) is not supported by this model (trained on {known})")
        if not np.isfinite(positions).all():
            raise ModelError("positions contain NaN or infinite values")
        for k in range(3):
            if pbc[k] and np.linalg.norm(cell[k]) < 1e-8:
                raise ModelError(
                    f"periodic boundary conditions along axis {k} need a cell, but the cell vector is zero"
                )
        if pbc.any() and abs(np.linalg.det(cell)) < 1e-8 and pbc.all():
            raise ModelError("the cell is degenerate (zero volume) but the structure is periodic")

    def _active_pairs(
        self, positions: np.ndarray, edge_index: np.ndarray, shifts: np.ndarray, drop: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Check distances; with ``drop``, keep only the skin-list pairs inside the cutoff (the others
        contribute exactly zero, so dropping them changes no number and saves the model the work)."""
        if edge_index.shape[1] == 0:
            return edge_index, shifts
        v = positions[edge_index[1]] - positions[edge_index[0]] + shifts
        d2 = np.einsum("ij,ij->i", v, v)
        k = int(np.argmin(d2))
        if d2[k] < MIN_DISTANCE**2:
            i, j = int(edge_index[0, k]), int(edge_index[1, k])
            dist = float(np.sqrt(d2[k]))
            raise ModelError(f"atoms {i} and {j} are {dist:.4f} Å apart (less than {MIN_DISTANCE} Å)")
        if not drop or self.skin == 0.0:
            return edge_index, shifts
        keep = d2 < self.cutoff * self.cutoff
        return edge_index[:, keep], shifts[keep]

    def _graph_compute(
        self, positions: np.ndarray, numbers: np.ndarray, edge_index: np.ndarray, shifts: np.ndarray
    ) -> dict[str, np.ndarray] | None:
        """The CUDA graph's outputs for the whole skin list, or None (graphs then off for good) when this
        model cannot be captured (its kernels depend on values, e.g. element-wise heads)."""
        try:
            return self.graphs.run(positions, numbers, edge_index, shifts)
        except RuntimeError as exc:
            if self._graphs_asked:  # asked for: say why they are off; automatic: quietly the plain path
                warnings.warn(
                    f"CUDA graphs are off for {self.artifact.path}: it cannot be captured "
                    f"({str(exc).splitlines()[0][:200]})",
                    stacklevel=3,
                )
            self.graphs = None
            torch.cuda.synchronize()
            return None

    # -- ASE interface -----------------------------------------------------------------------------
    def check_state(self, atoms, tol: float = 1e-15) -> list[str]:  # type: ignore[no-untyped-def]
        """ASE's `compare_atoms` with the same answer in about a third of its time: an ASE MD step asks
        2-3 times, and on a small molecule ASE's `np.isclose` checks were a fifth of the step."""
        if self.atoms is None:
            return list(all_changes)
        ignored = set(self.ignored_changes)
        return [c for c in system_changes(self.atoms, atoms, tol) if c not in ignored]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:  # noqa: B006
        super().calculate(atoms, properties, system_changes)
        a = self.atoms
        positions = np.asarray(a.get_positions(), dtype=np.float64)
        numbers = np.asarray(a.numbers, dtype=np.int64)
        cell = np.asarray(a.cell.array, dtype=np.float64)
        pbc = np.asarray(a.pbc, dtype=bool)
        self._check(positions, numbers, cell, pbc)
        edge_index, shifts = self._pairs(positions, numbers, cell, pbc)
        out = None
        if self.graphs is not None:  # the graph takes the whole skin list, whose length holds
            self._active_pairs(positions, edge_index, shifts, drop=False)  # the distance check
            out = self._graph_compute(positions, numbers, edge_index, shifts)
        if out is None:
            active = self._active_pairs(positions, edge_index, shifts)
            out = self.artifact.compute(positions, numbers, *active, len(numbers), checked=True)
        energy = float(out["energy"])
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "energies": out["atom_energies"].copy(),
            "forces": out["forces"].copy(),
        }
        if pbc.all():
            volume = abs(float(np.linalg.det(cell)))
            s = -out["virial"] / volume
            s = 0.5 * (s + s.T)
            self.results["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
        elif "stress" in properties:
            raise PropertyNotImplementedError("stress needs a 3D-periodic structure with a cell")
        if "dipole" in out:
            self.results["dipole"] = out["dipole"].copy()

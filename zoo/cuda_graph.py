"""CUDA graphs for a TorchScript artifact on a GPU: one replay per energy-and-forces call.

On a GPU a small system is not limited by arithmetic but by the host: a SchNet call launches a few
hundred kernels, forward and backward, each one through the TorchScript interpreter and the autograd
engine, and the host's time for that (several ms) is the whole call. A CUDA graph records those launches
once and replays them with one call. A graph holds fixed shapes, so the runner is keyed by the atom and
pair counts: the caller passes its Verlet list (with skin), which keeps its length between rebuilds,
and the runner pads it with pairs far beyond the cutoff (they contribute exactly zero) to a multiple of
``PAD`` so that a rebuild rarely needs a new graph.

The graph holds the artifact's ``forward_unchecked`` method (export/SPEC.md, "forward_unchecked"): its forward
for one structure without the input checks, which read values back to the host and so cannot be part
of a graph. Callers check first (`zoo.ase.ZooCalculator` does: elements, NaN positions, atoms too close).
Models whose kernels depend on values (ACSF triplets, element-wise heads) cannot be captured; the
caller then evaluates without graphs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from zoo.gpu_blas import blas_for_rows

PAD = 64  # pair-list padding granularity (pairs per half of the mirror-ordered list)


def pad_pairs(edge_index: np.ndarray, shifts: np.ndarray, reach: float) -> tuple[np.ndarray, np.ndarray]:
    """A mirror-ordered pair list (pair p + P/2 is pair p reversed) padded to a multiple of 2 * PAD pairs,
    still mirror-ordered: atom 0 with its own image ``reach`` Å away (beyond the cutoff), and back."""
    half = edge_index.shape[1] // 2
    extra = -half % PAD + (PAD if half == 0 else 0)
    if extra == 0:
        return edge_index, shifts
    zeros = np.zeros((2, extra), dtype=edge_index.dtype)
    far = np.zeros((extra, 3), dtype=shifts.dtype)
    far[:, 0] = reach
    ei = np.concatenate([edge_index[:, :half], zeros, edge_index[:, half:], zeros], axis=1)
    sh = np.concatenate([shifts[:half], far, shifts[half:], -far])
    return ei, sh


# operators whose output shape depends on values: they read values back to the host, which a CUDA graph
# cannot hold (ACSF's triplets and element-wise heads use them; SchNet does not)
VALUE_DEPENDENT = (
    "aten::nonzero",
    "aten::repeat_interleave",
    "aten::unique",
    "aten::masked_select",
    "aten::item",
)


def value_dependent_ops(module: Any) -> list[str]:
    """The VALUE_DEPENDENT operators in ``module.forward_unchecked``'s graph (empty: it can be captured)."""
    graph = str(module.forward_unchecked.graph)
    return [op for op in VALUE_DEPENDENT if op + "(" in graph]


class GraphRunner:
    """Replays one CUDA graph of ``module.forward_unchecked`` per (atoms, padded pairs); holds the latest
    ``keep`` graphs. ``species``: an element of the model (the captures' placeholder atoms)."""

    def __init__(
        self, module: Any, device: str, dtype: torch.dtype, reach: float, species: int, keep: int = 2
    ) -> None:
        self.module = module
        self.species = int(species)
        self.device = torch.device(device)
        self.dtype = dtype
        self.reach = float(reach)
        self.keep = keep
        self._graphs: dict[tuple[int, int], dict[str, Any]] = {}
        # the last pair list passed in, held (so that `is` cannot match a freed one), and its padded form
        self._list: tuple[np.ndarray, ...] | None = None
        self.captures = 0

    def run(
        self, positions: np.ndarray, numbers: np.ndarray, edge_index: np.ndarray, shifts: np.ndarray
    ) -> dict[str, np.ndarray]:
        """``edge_index``/``shifts``: a mirror-ordered list (zoo.neighbors order) of this structure. A
        caller with a Verlet list passes the same arrays until it rebuilds them: the list is then padded
        and copied to the GPU once per build, not on every call."""
        cur = self._list
        if cur is None or cur[0] is not edge_index or cur[1] is not shifts:
            cur = self._list = (edge_index, shifts, *pad_pairs(edge_index, shifts, self.reach))
        ei, sh = cur[2], cur[3]
        key = (len(numbers), ei.shape[1])
        entry = self._graphs.get(key)
        if entry is None:
            entry = self._capture(key)
        inputs = entry["inputs"]
        inputs["positions"].copy_(torch.from_numpy(positions))
        inputs["numbers"].copy_(torch.from_numpy(numbers))
        if entry.get("list") is not cur:  # this graph's inputs hold another list
            inputs["edge_index"].copy_(torch.from_numpy(ei))
            inputs["shifts"].copy_(torch.from_numpy(sh))
            entry["list"] = cur
        entry["graph"].replay()
        return {k: v.detach().cpu().numpy().astype(np.float64) for k, v in entry["outputs"].items()}

    def _capture(self, key: tuple[int, int]) -> dict[str, Any]:
        while len(self._graphs) >= self.keep:  # the oldest graph's memory goes back to the pool
            self._graphs.pop(next(iter(self._graphs)))
        n, p = key
        dev, dt = self.device, self.dtype
        inputs = {
            "positions": torch.zeros(n, 3, dtype=dt, device=dev),
            "numbers": torch.full((n,), self.species, dtype=torch.long, device=dev),
            "edge_index": torch.zeros(2, p, dtype=torch.long, device=dev),
            "shifts": torch.zeros(p, 3, dtype=dt, device=dev),
        }
        inputs["positions"][:, 0] = torch.arange(n, dtype=dt, device=dev)  # distinct atoms
        inputs["shifts"][:, 0] = self.reach  # every warm-up pair beyond the cutoff
        inputs["shifts"][p // 2 :, 0] = -self.reach

        def run() -> dict[str, Tensor]:
            with torch.enable_grad(), torch.jit.optimized_execution(False), blas_for_rows(dev, n):
                return self.module.forward_unchecked(
                    inputs["positions"], inputs["numbers"], inputs["edge_index"], inputs["shifts"]
                )

        side = torch.cuda.Stream(dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):  # warm-up off the default stream, as CUDA graph capture asks
            run()
        torch.cuda.current_stream(dev).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            outputs = run()  # the kernels chosen here (blas_for_rows, in run) are the ones replayed
        self.captures += 1
        entry = {"graph": graph, "inputs": inputs, "outputs": outputs}
        self._graphs[key] = entry
        return entry

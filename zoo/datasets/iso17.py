"""ISO17: molecular dynamics of 129 isomers of C7O2H10 (Schütt et al., NeurIPS 2017, arXiv:1706.08566).

Archive ``iso17.tar.gz`` from http://quantum-machine.org/datasets/ with ASE databases ``iso17/<fold>.db``:
``reference`` (80% of the steps of 80% of the MD trajectories), ``reference_eq`` (their equilibrium
structures), ``test_within`` (the other 20% of steps, known molecules), ``test_other`` (the 20% of
molecules not in the training set), ``test_eq``. Each row has ``total_energy`` (eV, key-value pair) and
``atomic_forces`` (eV/Å, in ``row.data``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from zoo.data.dataset import AtomsDataset
from zoo.data.io import read_asedb
from zoo.datasets.base import PreparedDataset, RemoteFile, extract_members
from zoo.errors import DataError


class ISO17(PreparedDataset):
    name = "iso17"
    energy = "energy"
    forces = "forces"
    FOLDS: ClassVar[tuple[str, ...]] = ("reference", "reference_eq", "test_within", "test_other", "test_eq")
    files: ClassVar[dict[str, RemoteFile]] = {
        "archive": RemoteFile("iso17.tar.gz", "http://quantum-machine.org/datasets/iso17.tar.gz"),
    }

    def __init__(self, root: str | os.PathLike[str], fold: str = "reference", **kwargs: Any) -> None:
        super().__init__(root, **kwargs)
        if fold not in self.FOLDS:
            raise DataError(f"ISO17 has no fold {fold!r}; choose from {', '.join(self.FOLDS)}.")
        self.fold = fold

    def _processed_name(self) -> str:
        return f"iso17_{self.fold}.h5"

    def _convert(self, out: Path) -> AtomsDataset:
        member = f"iso17/{self.fold}.db"
        db = extract_members(self.fetch("archive"), [member], self.raw_folder / "extracted")[member]
        rows, units, total = read_asedb(
            db, {"energy": "total_energy", "forces": "atomic_forces"}, {"energy": "eV", "forces": "eV/Ang"}
        )
        return self._create(
            out, rows, units, source=f"{self.remote['archive'].url} ({member})", show_progress=self.progress,
            total=total, fold=self.fold, theory="PBE+vdW-TS (FHI-aims)",
        )  # fmt: skip

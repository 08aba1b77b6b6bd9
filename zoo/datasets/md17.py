"""MD17 and revised MD17: ab-initio molecular dynamics of small organic molecules, energies and forces.

* MD17: Chmiela et al., Sci. Adv. 3, e1603015 (2017); npz files from http://www.quantum-machine.org/gdml/
  (keys ``z``, ``R`` Å, ``E`` kcal/mol, ``F`` kcal/mol/Å).
* rMD17: Christensen & von Lilienfeld, Mach. Learn.: Sci. Technol. 1, 045018 (2020); archive
  ``rmd17.tar.bz2`` on figshare (article 12672038) with ``rmd17/npz_data/rmd17_<molecule>.npz`` (keys
  ``nuclear_charges``, ``coords``, ``energies``, ``forces``, kcal/mol) and the published splits
  ``rmd17/splits/index_train_0N.csv`` / ``index_test_0N.csv`` (N = 1..5, 1,000 indices each).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from zoo.data.dataset import AtomsDataset
from zoo.data.io import read_md17_arrays
from zoo.datasets.base import PreparedDataset, RemoteFile, extract_members
from zoo.errors import DataError

MD17_URL = "http://www.quantum-machine.org/gdml/data/npz/"


class MD17(PreparedDataset):
    name = "md17"
    energy = "energy"
    forces = "forces"

    MD17_FILES: ClassVar[dict[str, str]] = {
        "aspirin": "md17_aspirin.npz",
        "benzene": "md17_benzene2017.npz",
        "ethanol": "md17_ethanol.npz",
        "malonaldehyde": "md17_malonaldehyde.npz",
        "naphthalene": "md17_naphthalene.npz",
        "salicylic_acid": "md17_salicylic.npz",
        "toluene": "md17_toluene.npz",
        "uracil": "md17_uracil.npz",
    }
    RMD17_MOLECULES: ClassVar[dict[str, str]] = {
        "aspirin": "aspirin", "azobenzene": "azobenzene", "benzene": "benzene", "ethanol": "ethanol",
        "malonaldehyde": "malonaldehyde", "naphthalene": "naphthalene", "paracetamol": "paracetamol",
        "salicylic_acid": "salicylic", "toluene": "toluene", "uracil": "uracil",
    }  # fmt: skip
    files: ClassVar[dict[str, RemoteFile]] = {
        **{m: RemoteFile(f, MD17_URL + f) for m, f in MD17_FILES.items()},
        # sha256 prefix as pinned by the load-atoms project
        # (github.com/jla-gardner/load-atoms, importers/rmd17.py)
        "rmd17": RemoteFile(
            "rmd17.tar.bz2", "https://figshare.com/ndownloader/files/23950376", "cddeea2ec2c4"
        ),
    }

    def __init__(
        self, root: str | os.PathLike[str], molecule: str = "ethanol", revised: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(root, **kwargs)
        table = self.RMD17_MOLECULES if revised else self.MD17_FILES
        if molecule not in table:
            kind = "rMD17" if revised else "MD17"
            raise DataError(f"{kind} has no molecule {molecule!r}; choose from {', '.join(table)}.")
        self.molecule = molecule
        self.revised = revised

    @property
    def folder(self) -> Path:
        return self.root / ("rmd17" if self.revised else "md17")

    def _processed_name(self) -> str:
        return f"{'rmd17' if self.revised else 'md17'}_{self.molecule}.h5"

    def _npz(self) -> Path:
        if not self.revised:
            return self.fetch(self.molecule)
        name = f"rmd17_{self.RMD17_MOLECULES[self.molecule]}.npz"
        out = extract_members(self.fetch("rmd17"), [f"npz_data/{name}"], self.raw_folder / "extracted")
        return out[f"npz_data/{name}"]

    def _convert(self, out: Path) -> AtomsDataset:
        npz = self._npz()
        arrays, units, meta = read_md17_arrays(npz)
        key = "rmd17" if self.revised else self.molecule
        return self._create(
            out, arrays, units, source=f"{self.remote[key].url} ({npz.name})", molecule=self.molecule,
            revised=int(self.revised), units_converted_from="kcal/mol, kcal/mol/Ang", **meta,
        )  # fmt: skip

    def splits(self, number: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The published rMD17 split ``number`` (1..5): (train indices, test indices)."""
        if not self.revised:
            raise DataError("Only rMD17 (revised=True) has published splits.")
        if number not in range(1, 6):
            raise DataError(f"rMD17 has splits 1..5, not {number}.")
        names = [f"splits/index_train_0{number}.csv", f"splits/index_test_0{number}.csv"]
        paths = extract_members(self.fetch("rmd17"), names, self.raw_folder / "extracted")
        return read_index_file(paths[names[0]]), read_index_file(paths[names[1]])


def read_index_file(path: Path) -> np.ndarray:
    """Integers, one per line (an rMD17 split file)."""
    values = []
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip().strip(",")
        if not text:
            continue
        try:
            values.append(int(float(text)))
        except ValueError:
            if line_no == 1:
                continue  # a header
            raise DataError(f"{path}, line {line_no}: {text!r} is not an index.") from None
    if not values:
        raise DataError(f"{path} holds no indices.")
    return np.asarray(values, dtype=np.int64)

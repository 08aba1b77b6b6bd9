"""ANI-1 and ANI-1x: off-equilibrium conformations of organic molecules (C, H, N, O), streamed with h5py.

* ANI-1: Smith, Isayev, Roitberg, Sci. Data 4, 170193 (2017); ``ANI1_release.tar.gz`` (figshare file
  9057631) with ``ani_gdb_s01.h5`` ... ``ani_gdb_s08.h5`` (s0N: molecules with N heavy atoms). Layout: one
  group per molecule (e.g. ``/gdb11_s01/gdb11_s01-0``) with ``species`` (element symbols as bytes),
  ``coordinates`` [conformers, atoms, 3] Å and ``energies`` [conformers] Hartree (ωB97x/6-31G(d)).
* ANI-1x: Smith et al., Sci. Data 7, 134 (2020); ``ani1x-release.h5`` (figshare file 18112775), one group
  per formula with ``atomic_numbers``, ``coordinates`` Å, ``wb97x_dz.energy`` Hartree and
  ``wb97x_dz.forces`` Hartree/Å. Conformers without a ωB97x energy (NaN) are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import h5py
import numpy as np
from ase.data import atomic_numbers

from zoo.data.dataset import AtomsDataset
from zoo.data.units import HARTREE_TO_EV
from zoo.datasets.base import PreparedDataset, RemoteFile, extract_members, finite_rows
from zoo.errors import DataError


class ANI1(PreparedDataset):
    name = "ani1"
    energy = "energy"
    forces = "forces"
    files: ClassVar[dict[str, RemoteFile]] = {
        "ani1": RemoteFile("ANI1_release.tar.gz", "https://ndownloader.figshare.com/files/9057631"),
        # sha256 prefix as pinned by the load-atoms project
        # (github.com/jla-gardner/load-atoms, importers/ani_1x.py)
        "ani1x": RemoteFile(
            "ani1x-release.h5",
            "https://springernature.figshare.com/ndownloader/files/18112775",
            "fe0ba06198ee",
        ),
    }

    def __init__(
        self,
        root: str | os.PathLike[str],
        variant: str = "ani1",
        heavy_atoms: Sequence[int] = (1, 2, 3, 4, 5, 6, 7, 8),
        **kwargs: Any,
    ) -> None:
        super().__init__(root, **kwargs)
        if variant not in ("ani1", "ani1x"):
            raise DataError(f"ANI1 variant must be 'ani1' or 'ani1x', not {variant!r}.")
        bad = [n for n in heavy_atoms if n not in range(1, 9)]
        if bad:
            raise DataError(f"ANI-1 has files for 1..8 heavy atoms, not {bad[0]}.")
        self.variant = variant
        self.heavy_atoms = tuple(sorted(set(heavy_atoms)))

    @property
    def folder(self) -> Path:
        return self.root / self.variant

    def _processed_name(self) -> str:
        if self.variant == "ani1x":
            return "ani1x.h5"
        return "ani1_s" + "".join(str(n) for n in self.heavy_atoms) + ".h5"

    def _convert(self, out: Path) -> AtomsDataset:
        if self.variant == "ani1x":
            src = self.fetch("ani1x")
            structures = read_ani1x_h5(src)
            units = {"energy": "eV", "forces": "eV/Ang"}
            sources = [src]
        else:
            names = [f"ani_gdb_s0{n}.h5" for n in self.heavy_atoms]
            paths = extract_members(self.fetch("ani1"), names, self.raw_folder / "extracted")
            sources = [paths[n] for n in names]
            structures = (s for p in sources for s in read_ani1_h5(p))
            units = {"energy": "eV"}
        names_used = ", ".join(p.name for p in sources)
        return self._create(
            out, structures, units, source=f"{self.remote[self.variant].url} ({names_used})",
            show_progress=self.progress, variant=self.variant, units_converted_from="Hartree",
        )  # fmt: skip


def _groups(f: h5py.File, required: Sequence[str]) -> Iterator[h5py.Group]:
    """Every group (at any depth) that holds all ``required`` datasets."""
    stack: list[h5py.Group] = [f]
    while stack:
        g = stack.pop(0)
        if all(k in g for k in required):
            yield g
            continue
        stack.extend(v for v in g.values() if isinstance(v, h5py.Group))


def _open(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path} is not a readable HDF5 file ({exc}).") from None


def read_ani1_h5(path: Path) -> Iterator[dict[str, Any]]:
    """Conformers of an ANI-1 ``ani_gdb_s0N.h5`` file (energies converted from Hartree to eV)."""
    with _open(path) as f:
        n_groups = 0
        for g in _groups(f, ("species", "coordinates", "energies")):
            n_groups += 1
            species = [s.decode() if isinstance(s, bytes) else str(s) for s in g["species"][()]]
            try:
                z = np.array([atomic_numbers[s] for s in species], dtype=np.int64)
            except KeyError as exc:
                raise DataError(f"{path}:{g.name} has an unknown element {exc}.") from None
            coords = np.asarray(g["coordinates"][()], dtype=np.float64)
            energies = np.asarray(g["energies"][()], dtype=np.float64).reshape(-1)
            if coords.ndim != 3 or coords.shape[1:] != (len(z), 3) or coords.shape[0] != energies.shape[0]:
                raise DataError(
                    f"{path}:{g.name} has mismatched shapes: species {len(z)}, coordinates {coords.shape}, "
                    f"energies {energies.shape}."
                )
            ok = finite_rows(coords, energies)
            for k in np.flatnonzero(ok):
                yield {"Z": z, "R": coords[k], "energy": energies[k] * HARTREE_TO_EV}
        if n_groups == 0:
            raise DataError(
                f"{path} has no group with species, coordinates and energies (not an ANI-1 file)."
            )


def read_ani1x_h5(path: Path) -> Iterator[dict[str, Any]]:
    """Conformers of ANI-1x ``ani1x-release.h5`` with ωB97x/6-31G(d) energies and forces (to eV, eV/Å)."""
    keys = ("atomic_numbers", "coordinates", "wb97x_dz.energy", "wb97x_dz.forces")
    with _open(path) as f:
        n_groups = 0
        for g in _groups(f, keys):
            n_groups += 1
            z = np.asarray(g["atomic_numbers"][()], dtype=np.int64).reshape(-1)
            coords = np.asarray(g["coordinates"][()], dtype=np.float64)
            energies = np.asarray(g["wb97x_dz.energy"][()], dtype=np.float64).reshape(-1)
            forces = np.asarray(g["wb97x_dz.forces"][()], dtype=np.float64)
            c = coords.shape[0]
            if coords.shape != (c, len(z), 3) or forces.shape != coords.shape or energies.shape != (c,):
                raise DataError(
                    f"{path}:{g.name} has mismatched shapes: atomic_numbers {z.shape}, "
                    f"coordinates {coords.shape}, energies {energies.shape}, forces {forces.shape}."
                )
            for k in np.flatnonzero(finite_rows(coords, energies, forces)):
                yield {"Z": z, "R": coords[k], "energy": energies[k] * HARTREE_TO_EV,
                       "forces": forces[k] * HARTREE_TO_EV}  # fmt: skip
        if n_groups == 0:
            raise DataError(f"{path} has no group with {', '.join(keys)} (not an ANI-1x file).")

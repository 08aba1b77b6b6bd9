"""QM9: 133,885 small organic molecules (C, H, O, N, F; up to 9 heavy atoms), B3LYP/6-31G(2df,p).

Ramakrishnan, Dral, Rupp, von Lilienfeld, "Quantum chemistry structures and properties of 134 kilo
molecules", Sci. Data 1, 140022 (2014), https://doi.org/10.1038/sdata.2014.22; figshare collection
https://figshare.com/collections/Quantum_chemistry_structures_and_properties_of_134_kilo_molecules/978904

Two routes give the same numbers for the same molecule:

* the official xyz tarball ``dsgdb9nsd.xyz.tar.bz2`` (figshare file 3195389) plus ``uncharacterized.txt``
  (figshare file 3195404, the 3,054 molecules that failed the geometry consistency check);
* offline, the PyPI package ``qm9pack`` (``pip install qm9pack``), whose CSV files hold the 130,831
  characterized molecules with the same decimal values.

Units after conversion: energies eV, dipole e·Å, polarizability Å^3, <R^2> Å^2, rotational constants
GHz, heat capacity cal/mol/K. ``gdb_index`` (the molecule's number in QM9) is stored too.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from ase.data import atomic_numbers

from zoo.data.dataset import AtomsDataset
from zoo.data.units import HARTREE_TO_EV, conversion
from zoo.datasets.base import PreparedDataset, RemoteFile, open_tar
from zoo.errors import DataError, DownloadError


class QM9(PreparedDataset):
    name = "qm9"
    # property names (zoo), in the order of line 2 of every QM9 xyz file after "gdb <index>"
    A = "rotational_constant_A"
    B = "rotational_constant_B"
    C = "rotational_constant_C"
    mu = "dipole_moment"
    alpha = "isotropic_polarizability"
    homo = "homo"
    lumo = "lumo"
    gap = "gap"
    r2 = "electronic_spatial_extent"
    zpve = "zpve"
    U0 = "energy_U0"
    U = "energy_U"
    H = "enthalpy_H"
    G = "free_energy"
    Cv = "heat_capacity"
    index = "gdb_index"

    PROPERTIES: ClassVar[tuple[str, ...]] = (A, B, C, mu, alpha, homo, lumo, gap, r2, zpve, U0, U, H, G, Cv)
    SOURCE_UNITS: ClassVar[dict[str, str]] = {
        A: "GHz", B: "GHz", C: "GHz", mu: "Debye", alpha: "Bohr^3", homo: "Ha", lumo: "Ha", gap: "Ha",
        r2: "Bohr^2", zpve: "Ha", U0: "Ha", U: "Ha", H: "Ha", G: "Ha", Cv: "cal/mol/K",
    }  # fmt: skip
    N_MOLECULES = 133885
    N_UNCHARACTERIZED = 3054

    files: ClassVar[dict[str, RemoteFile]] = {
        # sha256 prefix as pinned by the load-atoms project
        # (github.com/jla-gardner/load-atoms, importers/qm9.py)
        "xyz": RemoteFile(
            "dsgdb9nsd.xyz.tar.bz2", "https://ndownloader.figshare.com/files/3195389", "3a63848ac806"
        ),
        "uncharacterized": RemoteFile(
            "uncharacterized.txt", "https://ndownloader.figshare.com/files/3195404"
        ),
    }

    # Per-element references (Hartree; Cv in cal/mol/K) of atomref.txt, figshare file 3195395 (same
    # collection):
    # energies of the isolated atoms at B3LYP/6-31G(2df,p). Columns: ZPVE, U0, U(298.15K), H, G, Cv.
    ATOMREF_HARTREE: ClassVar[dict[int, tuple[float, ...]]] = {
        1: (0.0, -0.500273, -0.498857, -0.497912, -0.510927, 2.981),
        6: (0.0, -37.846772, -37.845355, -37.844411, -37.861317, 2.981),
        7: (0.0, -54.583861, -54.582445, -54.581501, -54.598897, 2.981),
        8: (0.0, -75.064579, -75.063163, -75.062219, -75.079532, 2.981),
        9: (0.0, -99.718730, -99.717314, -99.716370, -99.733544, 2.981),
    }
    _ATOMREF_COLUMNS: ClassVar[tuple[str, ...]] = (zpve, U0, U, H, G, Cv)

    def __init__(
        self,
        root: str | os.PathLike[str],
        properties: Sequence[str] | None = None,
        remove_uncharacterized: bool = True,
        download: bool = True,
        source: str = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(root, download=download, **kwargs)
        self.properties = list(self.PROPERTIES if properties is None else properties)
        unknown = [p for p in self.properties if p not in self.PROPERTIES and p != self.index]
        if unknown:
            raise DataError(f"QM9 has no property {unknown[0]!r}; choose from {', '.join(self.PROPERTIES)}.")
        if source not in ("auto", "figshare", "qm9pack"):
            raise DataError(f"QM9 source must be auto, figshare or qm9pack, not {source!r}.")
        if source == "qm9pack" and not remove_uncharacterized:
            raise DataError(
                "qm9pack lacks the 3,054 uncharacterized molecules; use source='figshare' to keep them."
            )
        self.remove_uncharacterized = remove_uncharacterized
        self.source = source

    def _processed_name(self) -> str:
        return "qm9.h5" if self.remove_uncharacterized else "qm9_with_uncharacterized.h5"

    @classmethod
    def atomrefs(cls) -> dict[str, np.ndarray]:
        """Per-element references in zoo units, as arrays of length 119 indexed by atomic number."""
        out: dict[str, np.ndarray] = {}
        for col, prop in enumerate(cls._ATOMREF_COLUMNS):
            factor = 1.0 if prop == cls.Cv else HARTREE_TO_EV
            arr = np.zeros(119)
            for z, row in cls.ATOMREF_HARTREE.items():
                arr[z] = row[col] * factor
            out[prop] = arr
        return out

    def __getitem__(self, idx: int) -> dict[str, Any]:
        s = self.dataset[idx]
        keep = set(self.properties) | {"Z", "R", "cell", "pbc", "n_atoms"}
        return {k: v for k, v in s.items() if k in keep}

    # ------------------------------------------------------------------ conversion
    def _route(self) -> str:
        if self.source != "auto":
            return self.source
        if self.raw_path("xyz").exists() or not self.remove_uncharacterized:
            return "figshare"
        return "qm9pack" if qm9pack_folder() is not None else "figshare"

    def _convert(self, out: Path) -> AtomsDataset:
        route = self._route()
        units = {p: conversion(self.SOURCE_UNITS[p])[1] for p in self.PROPERTIES}
        units[self.index] = ""
        if route == "qm9pack":
            folder = qm9pack_folder()
            if folder is None:
                raise DownloadError(
                    "qm9pack is not installed: run `pip install qm9pack` (or use source='figshare')."
                )
            structures: Iterator[dict[str, Any]] = read_qm9pack(folder)
            source = f"qm9pack ({folder})"
            total: int | None = self.N_MOLECULES - self.N_UNCHARACTERIZED
        else:
            archive = self.fetch("xyz")
            skip: set[int] = set()
            if self.remove_uncharacterized:
                skip = parse_uncharacterized(self.fetch("uncharacterized"))
            structures = (m for m in read_qm9_tarball(archive) if m[self.index] not in skip)
            source = f"{self.remote['xyz'].url} ({archive.name})"
            total = self.N_MOLECULES - len(skip)
        return self._create(
            out, _sorted(structures), units, source=source, show_progress=self.progress, total=total,
            route=route, remove_uncharacterized=int(self.remove_uncharacterized),
            theory="B3LYP/6-31G(2df,p)", citation="Ramakrishnan et al., Sci. Data 1, 140022 (2014)",
        )  # fmt: skip


def _sorted(structures: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    mols = list(structures)
    mols.sort(key=lambda m: m[QM9.index])
    return mols


# ---------------------------------------------------------------------------------------- xyz tarball
def _convert_values(raw: Sequence[float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for prop, value in zip(QM9.PROPERTIES, raw, strict=True):
        factor, _ = conversion(QM9.SOURCE_UNITS[prop])
        out[prop] = float(value) * factor
    return out


def parse_qm9_xyz(text: str, name: str) -> dict[str, Any]:
    """One QM9 xyz file: n atoms; "gdb N A B C mu alpha homo lumo gap r2 zpve U0 U H G Cv"; atom lines
    "El x y z q" (Mathematica ``*^`` exponents); harmonic frequencies; SMILES; InChI."""
    lines = text.replace("*^", "e").splitlines()
    try:
        n = int(lines[0])
        head = lines[1].split()
        if len(head) != 17 or head[0] != "gdb":
            raise ValueError("line 2 is not 'gdb <index> <15 properties>'")
        atoms = [ln.split() for ln in lines[2 : 2 + n]]
        if len(atoms) != n or len(lines) < n + 5:
            raise ValueError(f"expected {n} atom lines followed by frequencies, SMILES and InChI lines")
        z = np.array([atomic_numbers[a[0]] for a in atoms], dtype=np.int64)
        r = np.array([[float(x) for x in a[1:4]] for a in atoms], dtype=np.float64)
        values = _convert_values([float(v) for v in head[2:]])
    except (ValueError, IndexError, KeyError) as exc:
        raise DataError(f"{name} is not a valid QM9 xyz file ({exc}).") from None
    return {"Z": z, "R": r, QM9.index: int(head[1]), **values}


def read_qm9_tarball(archive: Path) -> Iterator[dict[str, Any]]:
    """Molecules of dsgdb9nsd.xyz.tar.bz2, streamed (no extraction to disk)."""
    import tarfile

    with open_tar(archive) as tar:
        try:
            for member in tar:
                if not member.isfile() or not member.name.endswith(".xyz"):
                    continue
                f = tar.extractfile(member)
                if f is None:
                    continue
                yield parse_qm9_xyz(f.read().decode("ascii"), f"{archive.name}:{member.name}")
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(
                f"{archive} is truncated or corrupt ({exc}); delete it and download it again."
            ) from None


def parse_uncharacterized(path: Path) -> set[int]:
    """Indices listed in uncharacterized.txt: a text header, then one row per molecule whose first column is
    the QM9 index (followed by SMILES strings and deviations), then a closing line."""
    indices: set[int] = set()
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].isdigit():
            indices.add(int(parts[0]))
    if not indices:
        raise DataError(f"{path} lists no molecule indices (is it the QM9 uncharacterized.txt?).")
    return indices


# ---------------------------------------------------------------------------------------- qm9pack
QM9PACK_COLUMNS: dict[str, str] = {
    QM9.A: "RotA_GHz", QM9.B: "RotB_GHz", QM9.C: "RotC_GHz", QM9.mu: "Dipole_debye",
    QM9.alpha: "Polarizability_bohr3", QM9.homo: "HOMO_au", QM9.lumo: "LUMO_au", QM9.gap: "HOMO_LUMO_gap_au",
    QM9.r2: "R2_bohr2", QM9.zpve: "ZPVE_au", QM9.U0: "InternalEnergy_0K_au", QM9.U: "InternalEnergy_298K_au",
    QM9.H: "Enthalphy_298K_au", QM9.G: "GibbsFreeEnergy_298K_au", QM9.Cv: "Heatcapacity_Cv_cal_mol_K",
}  # fmt: skip
QM9PACK_FILES = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")


def qm9pack_folder() -> Path | None:
    """The data folder of an installed qm9pack (found without importing it), or None."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder if all((folder / f).exists() for f in QM9PACK_FILES) else None


def _numbers(text: str) -> np.ndarray:
    return np.array(text.replace("[", " ").replace("]", " ").replace(",", " ").split(), dtype=np.float64)


def read_qm9pack(folder: Path) -> Iterator[dict[str, Any]]:
    """Molecules of qm9pack's CSV files (columns Index, Elements "['C','H',...]", XYZ_Ang "[[x,y,z],...]",
    then the 15 properties in the QM9 units)."""
    csv.field_size_limit(sys.maxsize)
    for fname in QM9PACK_FILES:
        path = folder / fname
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("Index", "Elements", "XYZ_Ang", *QM9PACK_COLUMNS.values())
                       if c not in (reader.fieldnames or [])]  # fmt: skip
            if missing:
                raise DataError(f"{path} has no column {missing[0]!r} (not a qm9pack CSV file).")
            for line_no, row in enumerate(reader, start=2):
                try:
                    symbols = [s.strip().strip("'\"") for s in row["Elements"].strip("[]").split(",")]
                    z = np.array([atomic_numbers[s] for s in symbols], dtype=np.int64)
                    r = _numbers(row["XYZ_Ang"]).reshape(len(z), 3)
                    values = _convert_values([float(row[QM9PACK_COLUMNS[p]]) for p in QM9.PROPERTIES])
                    index = int(row["Index"])
                except (ValueError, KeyError) as exc:
                    raise DataError(f"{path}, line {line_no}: not a valid qm9pack row ({exc}).") from None
                yield {"Z": z, "R": r, QM9.index: index, **values}

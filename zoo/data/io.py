"""Importers into the zoo HDF5 format: ASE db, extended XYZ, MD17 npz, DeePMD npy.

Each ``import_*`` function reads a source, converts its units to eV/Å/e·Å and writes an
`AtomsDataset`. ``properties`` maps the zoo name to the name in the source (a list of names means
"same name"); ``units`` gives the source unit of each zoo property where the source does not say.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data import keys
from zoo.data.dataset import AtomsDataset
from zoo.data.units import KCAL_MOL_TO_EV, conversion
from zoo.errors import DataError

PathLike = str | os.PathLike[str]
PropertySpec = Mapping[str, str] | Sequence[str] | None

FORMATS = ("asedb", "extxyz", "md17", "deepmd")


def _mapping(properties: PropertySpec, default: Sequence[str]) -> dict[str, str]:
    if properties is None:
        return {p: p for p in default}
    if isinstance(properties, Mapping):
        return dict(properties)
    return {p: p for p in properties}


def _check_exists(src: Path) -> None:
    if not src.exists():
        raise DataError(f"{src} does not exist.")


# ---------------------------------------------------------------------------------------- ASE db
def _decode_legacy(data: Mapping[str, Any], key: str) -> Any:
    """Old ASE db files store arrays in row.data as base64 text with _shape_/_dtype_ companions."""
    value = data[key]
    if isinstance(value, str) and f"_dtype_{key}" in data:
        raw = base64.b64decode(value)
        return np.frombuffer(raw, dtype=data[f"_dtype_{key}"]).reshape(data[f"_shape_{key}"])
    return value


def _row_value(row: Any, key: str) -> Any:
    if key in row.key_value_pairs:
        return row.key_value_pairs[key]
    data = row.data
    if key in data:
        return _decode_legacy(data, key)
    value = row.get(key)  # calculator results: energy, forces, stress, dipole, ...
    return value


def read_asedb(
    src: PathLike,
    properties: PropertySpec = None,
    units: Mapping[str, str] | None = None,
    per_atom: Sequence[str] = (),
) -> tuple[Iterator[dict[str, Any]], dict[str, str], int]:
    """Structures of an ASE database; returns (iterator, zoo units per property, count)."""
    import ase.db

    path = Path(src)
    _check_exists(path)
    try:
        db = ase.db.connect(str(path), type="db" if path.suffix == ".db" else "extract_from_name")
        count = db.count()
        meta = db.metadata or {}
    except Exception as exc:  # sqlite3.DatabaseError, json errors, ...
        raise DataError(f"{path} is not a readable ASE database ({exc}).") from None
    if count == 0:
        raise DataError(f"{path} holds no structures (empty dataset).")
    mapping = _mapping(properties, _default_props_asedb(db))
    src_units = dict(meta.get("_property_unit_dict", {}))
    factors: dict[str, float] = {}
    zoo_units: dict[str, str] = {}
    for name, key in mapping.items():
        unit = (units or {}).get(name, src_units.get(key, _guess_unit(name)))
        factors[name], zoo_units[name] = conversion(unit)
    per_atom_set = set(per_atom) | set(keys.PER_ATOM_DEFAULT)

    def rows() -> Iterator[dict[str, Any]]:
        for row in db.select():
            s: dict[str, Any] = {
                keys.Z: row.numbers,
                keys.R: row.positions,
                keys.cell: np.asarray(row.cell),
                keys.pbc: row.pbc,
            }
            for name, key in mapping.items():
                value = _row_value(row, key)
                if value is None:
                    raise DataError(f"{path}: row {row.id} has no property '{key}'.")
                s[name] = _shape_value(
                    np.asarray(value, dtype=np.float64) * factors[name], name in per_atom_set
                )
            yield s

    return rows(), zoo_units, count


def _default_props_asedb(db: Any) -> list[str]:
    row = next(iter(db.select(limit=1)))
    names = [k for k in row.key_value_pairs] + [k for k in row.data if not k.startswith("_")]
    for k in ("energy", "forces", "stress", "dipole"):
        if row.get(k) is not None and k not in names:
            names.append(k)
    return names


def _shape_value(value: np.ndarray, per_atom: bool) -> np.ndarray:
    """Per-structure values stored as (1, ...) in many sources become (...); energy (1,) -> ()."""
    if not per_atom and value.ndim >= 1 and value.shape[0] == 1:
        return value[0]
    return value


_GUESSED_UNITS = {"energy": "eV", "forces": "eV/Ang", "stress": "eV/Ang^3", "dipole": "e*Ang"}


def _guess_unit(name: str) -> str:
    return _GUESSED_UNITS.get(name, "")


# ---------------------------------------------------------------------------------------- extxyz
def read_extxyz(
    src: PathLike,
    properties: PropertySpec = None,
    units: Mapping[str, str] | None = None,
    per_atom: Sequence[str] = (),
) -> tuple[Iterator[dict[str, Any]], dict[str, str], int | None]:
    """Structures of an extended XYZ file; properties from atoms.info, atoms.arrays or calculator results."""
    import ase.io

    path = Path(src)
    _check_exists(path)
    mapping = _mapping(properties, ["energy", "forces"])
    factors: dict[str, float] = {}
    zoo_units: dict[str, str] = {}
    for name in mapping:
        factors[name], zoo_units[name] = conversion((units or {}).get(name, _guess_unit(name)))
    per_atom_set = set(per_atom) | set(keys.PER_ATOM_DEFAULT)

    def frames() -> Iterator[dict[str, Any]]:
        try:
            for i, atoms in enumerate(ase.io.iread(str(path), index=":", format="extxyz")):
                s: dict[str, Any] = {
                    keys.Z: atoms.numbers,
                    keys.R: atoms.positions,
                    keys.cell: np.asarray(atoms.cell),
                    keys.pbc: atoms.pbc,
                }
                results = atoms.calc.results if atoms.calc is not None else {}
                for name, key in mapping.items():
                    value = atoms.info.get(key, atoms.arrays.get(key, results.get(key)))
                    if value is None:
                        raise DataError(f"{path}: frame {i} has no property '{key}'.")
                    s[name] = _shape_value(
                        np.asarray(value, dtype=np.float64) * factors[name], name in per_atom_set
                    )
                yield s
        except DataError:
            raise
        except Exception as exc:
            raise DataError(f"{path} is not a readable extended XYZ file ({exc}).") from None

    return frames(), zoo_units, None


# ---------------------------------------------------------------------------------------- MD17 npz
MD17_KEYS = {"Z": "z", "R": "R", "energy": "E", "forces": "F"}
RMD17_KEYS = {"Z": "nuclear_charges", "R": "coords", "energy": "energies", "forces": "forces"}


def read_md17_arrays(
    src: PathLike,
    energy_unit: str = "kcal/mol",
    force_unit: str = "kcal/mol/Ang",
    properties: PropertySpec = None,
) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, Any]]:
    """Flat arrays of an MD17 (z, R, E, F) or rMD17 (nuclear_charges, coords, energies, forces) npz."""
    path = Path(src)
    _check_exists(path)
    try:
        npz = np.load(path, allow_pickle=False)
        files = set(npz.files)
    except Exception as exc:
        raise DataError(f"{path} is not a readable npz file ({exc}).") from None
    names = MD17_KEYS if "z" in files or "R" in files else RMD17_KEYS
    wanted = _mapping(properties, ["energy", "forces"])
    for k in ("Z", "R", *wanted):
        src_key = names.get(k, wanted.get(k, k))
        if src_key not in files:
            raise DataError(
                f"{path} has no key '{src_key}' (MD17 npz needs {', '.join(sorted(names.values()))})."
            )
    try:
        z = np.asarray(npz[names["Z"]], dtype=np.int64).reshape(-1)
        r = np.asarray(npz[names["R"]], dtype=np.float64)
        n_conf, n = r.shape[0], z.shape[0]
        if r.shape != (n_conf, n, 3):
            raise DataError(f"{path}: positions have shape {r.shape}, expected (configurations, {n}, 3).")
        arrays: dict[str, np.ndarray] = {
            keys.Z: np.tile(z, n_conf),
            keys.R: r.reshape(-1, 3),
            keys.n_atoms: np.full(n_conf, n),
        }
        units: dict[str, str] = {}
        e_fac, e_unit = conversion(energy_unit)
        f_fac, f_unit = conversion(force_unit)
        if "energy" in wanted:
            e = np.asarray(npz[names["energy"]], dtype=np.float64).reshape(-1)
            if e.shape[0] != n_conf:
                raise DataError(f"{path}: {e.shape[0]} energies for {n_conf} configurations.")
            arrays[keys.energy], units[keys.energy] = e * e_fac, e_unit
        if "forces" in wanted:
            f = np.asarray(npz[names["forces"]], dtype=np.float64)
            if f.shape != r.shape:
                raise DataError(f"{path}: forces have shape {f.shape}, positions {r.shape}.")
            arrays[keys.forces], units[keys.forces] = f.reshape(-1, 3) * f_fac, f_unit
        meta = {k: _text(npz[k]) for k in ("name", "theory", "smiles") if k in files}
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path} is corrupt or truncated ({exc}).") from None
    return arrays, units, meta


def _text(value: np.ndarray) -> str:
    item = value.item() if value.ndim == 0 else value.tolist()
    return item.decode(errors="replace") if isinstance(item, bytes) else str(item)


# ---------------------------------------------------------------------------------------- DeePMD
def deepmd_systems(src: PathLike) -> list[Path]:
    """Every DeePMD system folder (one holding type.raw) at or below ``src``, sorted."""
    path = Path(src)
    _check_exists(path)
    systems = sorted({p.parent for p in path.rglob("type.raw")}) if path.is_dir() else []
    if not systems:
        raise DataError(f"{path} holds no DeePMD system (no type.raw found).")
    return systems


def read_deepmd(src: PathLike) -> tuple[Iterator[dict[str, Any]], dict[str, str], int]:
    """Frames of DeePMD npy systems (type.raw, type_map.raw, set.*/{box,coord,energy,force}.npy), eV and Å."""
    from ase.data import atomic_numbers

    systems = deepmd_systems(src)
    total = 0
    plans: list[tuple[Path, np.ndarray, list[Path]]] = []
    for system in systems:
        types = np.loadtxt(system / "type.raw", dtype=np.int64, ndmin=1)
        map_file = system / "type_map.raw"
        if not map_file.exists():
            raise DataError(f"{map_file} is missing (needed to map DeePMD types to elements).")
        names = map_file.read_text().split()
        try:
            z = np.array([atomic_numbers[names[t]] for t in types], dtype=np.int64)
        except (IndexError, KeyError):
            raise DataError(f"{map_file} does not name an element for every type in type.raw.") from None
        sets = sorted(system.glob("set.*"))
        if not sets:
            raise DataError(f"{system} has no set.* folders.")
        for s in sets:
            total += (
                int(np.load(s / "energy.npy", mmap_mode="r").shape[0]) if (s / "energy.npy").exists() else 0
            )
        plans.append((system, z, sets))

    def frames() -> Iterator[dict[str, Any]]:
        for _system, z, sets in plans:
            n = z.shape[0]
            for s in sets:
                try:
                    box = np.load(s / "box.npy").reshape(-1, 3, 3)
                    coord = np.load(s / "coord.npy").reshape(-1, n, 3)
                    energy = np.load(s / "energy.npy").reshape(-1)
                    force = np.load(s / "force.npy").reshape(-1, n, 3)
                except FileNotFoundError as exc:
                    raise DataError(f"{s} lacks {Path(exc.filename).name}.") from None
                except ValueError as exc:
                    raise DataError(f"{s} has arrays of mismatched shapes ({exc}).") from None
                if not box.shape[0] == coord.shape[0] == energy.shape[0] == force.shape[0]:
                    raise DataError(f"{s} has different frame counts in box, coord, energy and force.")
                for k in range(energy.shape[0]):
                    yield {
                        keys.Z: z,
                        keys.R: coord[k],
                        keys.cell: box[k],
                        keys.pbc: np.ones(3, dtype=bool),
                        keys.energy: energy[k],
                        keys.forces: force[k],
                    }

    return frames(), {keys.energy: "eV", keys.forces: "eV/Ang"}, total


# ---------------------------------------------------------------------------------------- entry point
def import_file(
    fmt: str,
    src: PathLike,
    out: PathLike,
    properties: PropertySpec = None,
    units: Mapping[str, str] | None = None,
    per_atom: Sequence[str] = (),
    compression: str | None = None,
    show_progress: bool = False,
) -> AtomsDataset:
    """Convert ``src`` in format ``fmt`` (asedb, extxyz, md17, deepmd) to the zoo HDF5 file ``out``."""
    src_path = Path(src)
    per_atom_all = set(per_atom) | set(keys.PER_ATOM_DEFAULT)
    if fmt == "md17":
        wanted = _mapping(properties, ["energy", "forces"])
        kw = {}
        if units and "energy" in units:
            kw["energy_unit"] = units["energy"]
        if units and "forces" in units:
            kw["force_unit"] = units["forces"]
        arrays, zoo_units, meta = read_md17_arrays(src_path, properties=list(wanted), **kw)
        return AtomsDataset.create(
            out,
            arrays,
            zoo_units,
            per_atom=per_atom_all,
            source=str(src_path.resolve()),
            compression=compression,
            **meta,
        )
    total: int | None
    if fmt == "asedb":
        it, zoo_units, total = read_asedb(src_path, properties, units, per_atom)
    elif fmt == "extxyz":
        it, zoo_units, total = read_extxyz(src_path, properties, units, per_atom)
    elif fmt == "deepmd":
        it, zoo_units, total = read_deepmd(src_path)
        if properties is not None:
            keep = _mapping(properties, [])
            missing = set(keep) - set(zoo_units)
            if missing:
                raise DataError(f"{src_path}: DeePMD data has no property {sorted(missing)[0]!r}.")
            zoo_units = {k: v for k, v in zoo_units.items() if k in keep}
    else:
        raise DataError(f"Unknown import format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    return AtomsDataset.create(
        out,
        it,
        zoo_units,
        per_atom=per_atom_all,
        source=str(src_path.resolve()),
        compression=compression,
        show_progress=show_progress,
        total=total,
        import_format=fmt,
    )


__all__ = [
    "FORMATS",
    "KCAL_MOL_TO_EV",
    "import_file",
    "read_asedb",
    "read_extxyz",
    "read_md17_arrays",
    "read_deepmd",
    "deepmd_systems",
]
